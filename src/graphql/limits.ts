import {
  type DocumentNode,
  type FragmentDefinitionNode,
  GraphQLError,
  type GraphQLNamedType,
  type GraphQLOutputType,
  type GraphQLSchema,
  getIntrospectionQuery,
  getNamedType,
  getNullableType,
  isInterfaceType,
  isListType,
  isObjectType,
  Kind,
  NoSchemaIntrospectionCustomRule,
  parse,
  SchemaMetaFieldDef,
  type SelectionNode,
  type SelectionSetNode,
  TypeMetaFieldDef,
  type ValidationContext,
  type ValidationRule,
} from "graphql";
import type { YogaServerOptions } from "graphql-yoga";
import { LRUCache } from "lru-cache";

/**
 * Limits on GraphQL documents, checked by graphql-armor before execution. The deepest legitimate operation is 3
 * levels and uses no aliases; the limits leave room for fragments and tooling while refusing amplification.
 * graphql-armor's depth and cost rules skip `__schema`: {@link resultBudgetRule} bounds introspection instead.
 */
export const GRAPHQL_LIMITS = {
  maxDepth: { n: 10 },
  maxAliases: { n: 15 },
  costLimit: { maxCost: 5000 },
  maxTokens: { n: 2000 },
  maxDirectives: { n: 20 },
  blockFieldSuggestion: { enabled: true },
} as const;

/**
 * The deepest selection any document may have, introspection included: the introspection query of GraphiQL and of
 * graphql-js' `getIntrospectionQuery` (with every option) nests 15 levels (`__schema types fields type` + 7 `ofType`).
 */
export const MAX_SELECTION_DEPTH = 15;

/** The largest introspection query tools send: `getIntrospectionQuery` with every option. */
export const FULL_INTROSPECTION_QUERY = getIntrospectionQuery({
  descriptions: true,
  inputValueDeprecation: true,
  schemaDescription: true,
  specifiedByUrl: true,
  directiveIsRepeatable: true,
  oneOf: true,
});

/**
 * How many values a document's answer may hold at most, as bounded from the document and the schema before it runs:
 * twice the bound of the full introspection query (`getIntrospectionQuery` with every option), so that GraphiQL and
 * code generators work however the schema grows. On today's schema that is ~112,000 (the query really returns ~2,000
 * values: the bound counts every list at its longest); the real answer of any admitted document stays a few MB.
 */
export function maxResultValues(schema: GraphQLSchema): number {
  const [measure] = measureOperations(schema, introspectionListLengths(schema), parse(FULL_INTROSPECTION_QUERY));
  return 2 * (measure?.values ?? 0);
}

/**
 * Yoga's caches of parsed documents and of parse errors, bounded by the size of the documents they hold rather than
 * by their number: a parsed document takes ~130 times its source in memory, and yoga's default (1,024 documents of
 * any size) let 900 distinct large documents exhaust a 192 MB heap. Legitimate documents are small and few; a
 * document over 16 KB is parsed every time.
 */
export function documentCaches(): Exclude<
  YogaServerOptions<object, object>["parserAndValidationCache"],
  boolean | undefined
> {
  return { documentCache: documentCache<DocumentNode>(), errorCache: documentCache<object>() };
}

/** A cache by document text, bounded as {@link documentCaches} are: by the size of the texts it holds. */
export const documentCache = <T extends object>() =>
  new LRUCache<string, T>({
    max: 1_000,
    maxSize: 256 * 1024,
    maxEntrySize: 16 * 1024,
    sizeCalculation: (_value, key) => key.length || 1,
  });

/** List fields outside introspection: no such field exists today; a new one is assumed to return at most this many. */
const DEFAULT_LIST_LENGTH = 100;

/**
 * The longest list each introspection field can return on this schema (`__Schema.types`: every type, `__Type.fields`:
 * the most fields of any type, ...), measured once: so a bound computed from them is a real bound of the answer.
 */
function introspectionListLengths(schema: GraphQLSchema): Map<string, number> {
  const types = Object.values(schema.getTypeMap());
  let fields = 0;
  let args = 0;
  let enumValues = 0;
  let interfaces = 0;
  let possibleTypes = 0;
  for (const type of types) {
    if (isObjectType(type) || isInterfaceType(type)) {
      const own = Object.values(type.getFields());
      fields = Math.max(fields, own.length);
      for (const field of own) args = Math.max(args, field.args.length);
      interfaces = Math.max(interfaces, type.getInterfaces().length);
    }
    if ("getValues" in type) enumValues = Math.max(enumValues, type.getValues().length);
    if ("getFields" in type && !isObjectType(type) && !isInterfaceType(type)) {
      fields = Math.max(fields, Object.keys(type.getFields()).length);
    }
    if ("getTypes" in type) possibleTypes = Math.max(possibleTypes, type.getTypes().length);
  }
  for (const type of types) {
    if (isInterfaceType(type)) possibleTypes = Math.max(possibleTypes, schema.getPossibleTypes(type).length);
  }
  const directives = schema.getDirectives();
  for (const directive of directives) args = Math.max(args, directive.args.length);
  return new Map([
    ["__Schema.types", types.length],
    ["__Schema.directives", directives.length],
    ["__Type.fields", fields],
    ["__Type.inputFields", fields],
    ["__Type.interfaces", interfaces],
    ["__Type.possibleTypes", possibleTypes],
    ["__Type.enumValues", enumValues],
    ["__Field.args", args],
    ["__Directive.args", args],
    ["__Directive.locations", 19],
  ]);
}

/** What a selection can produce at most: values in the answer, and nesting depth. */
interface Measure {
  readonly values: number;
  readonly depth: number;
}

const EMPTY: Measure = { values: 0, depth: 0 };

/**
 * Bounds each operation of a document: the deepest selection and the most values its answer can hold, counting each
 * list field at its longest possible list and each fragment spread in full. Each fragment is measured once, so the
 * work is linear in the document's size however its fragments nest.
 */
function measureOperations(schema: GraphQLSchema, listLengths: Map<string, number>, document: DocumentNode) {
  const lengthOf = (parent: GraphQLNamedType, field: string) =>
    listLengths.get(`${parent.name}.${field}`) ?? DEFAULT_LIST_LENGTH;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const measured = new Map<string, Measure>();

  const measureFragment = (name: string): Measure => {
    const known = measured.get(name);
    if (known !== undefined) return known;
    // A cycle (refused by NoFragmentCyclesRule) counts as empty while it is being measured.
    measured.set(name, EMPTY);
    const fragment = fragments.get(name);
    const type = fragment && schema.getType(fragment.typeCondition.name.value);
    const result = fragment && type ? measure(fragment.selectionSet, type) : EMPTY;
    measured.set(name, result);
    return result;
  };

  const measureSelection = (selection: SelectionNode, parent: GraphQLNamedType): Measure => {
    switch (selection.kind) {
      case Kind.FRAGMENT_SPREAD:
        return measureFragment(selection.name.value);
      case Kind.INLINE_FRAGMENT: {
        const type = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : parent;
        return type ? measure(selection.selectionSet, type) : EMPTY;
      }
      case Kind.FIELD: {
        const fieldType = fieldTypeOf(schema, parent, selection.name.value);
        if (selection.selectionSet === undefined || fieldType === undefined) return { values: 1, depth: 1 };
        const inner = measure(selection.selectionSet, getNamedType(fieldType));
        const repeats = listMultiplier(fieldType, lengthOf(parent, selection.name.value));
        return { values: 1 + repeats * inner.values, depth: 1 + inner.depth };
      }
    }
  };

  const measure = (selectionSet: SelectionSetNode, parent: GraphQLNamedType): Measure => {
    let values = 0;
    let depth = 0;
    for (const selection of selectionSet.selections) {
      const inner = measureSelection(selection, parent);
      // Saturated: a bound far past any budget need not be exact, and must stay a finite number.
      values = Math.min(values + inner.values, SATURATED);
      depth = Math.max(depth, inner.depth);
    }
    return { values, depth };
  };

  return document.definitions.flatMap((definition) => {
    if (definition.kind !== Kind.OPERATION_DEFINITION) return [];
    const root = schema.getRootType(definition.operation);
    return root ? [{ operation: definition, ...measure(definition.selectionSet, root) }] : [];
  });
}

const SATURATED = 1e12;

/**
 * A validation rule that bounds every document before it runs, introspection included: no selection deeper than
 * {@link MAX_SELECTION_DEPTH}, no answer that could hold more than {@link maxResultValues} values.
 */
export function resultBudgetRule(schema: GraphQLSchema): ValidationRule {
  const listLengths = introspectionListLengths(schema);
  const budget = maxResultValues(schema);
  return (context: ValidationContext) => ({
    Document(document) {
      for (const { operation, values, depth } of measureOperations(schema, listLengths, document)) {
        if (depth > MAX_SELECTION_DEPTH) {
          context.reportError(
            new GraphQLError(`Query depth limit of ${MAX_SELECTION_DEPTH} exceeded, found ${depth}.`, {
              nodes: [operation],
            }),
          );
        } else if (values > budget) {
          context.reportError(
            new GraphQLError(`The answer could hold more than ${budget} values (up to ${values}): select less.`, {
              nodes: [operation],
            }),
          );
        }
      }
      return false;
    },
  });
}

/** The rules that shape introspection: off entirely, or bounded like every other selection. */
export function introspectionRules(schema: GraphQLSchema, introspection: boolean): ValidationRule[] {
  const budget = resultBudgetRule(schema);
  return introspection ? [budget] : [NoSchemaIntrospectionCustomRule, budget];
}

function fieldTypeOf(schema: GraphQLSchema, parent: GraphQLNamedType, name: string): GraphQLOutputType | undefined {
  if (name === "__schema" && parent === schema.getQueryType()) return SchemaMetaFieldDef.type;
  if (name === "__type" && parent === schema.getQueryType()) return TypeMetaFieldDef.type;
  if (isObjectType(parent) || isInterfaceType(parent)) return parent.getFields()[name]?.type;
  return undefined;
}

/** How many times a field's selection can repeat in the answer: the product of its list lengths. */
function listMultiplier(type: GraphQLOutputType, length: number): number {
  let multiplier = 1;
  let current: GraphQLOutputType = getNullableType(type);
  while (isListType(current)) {
    multiplier *= length;
    current = getNullableType(current.ofType);
  }
  return multiplier;
}
