import { GraphQLError, Kind, type ValueNode, valueFromASTUntyped } from "graphql";
import { builder } from "../builder.js";

/**
 * A JSON literal's value, with variables inside it substituted. Unlike graphql-js' `valueFromASTUntyped`, object keys
 * are defined rather than assigned, so that a key named `__proto__` stays a key (and is refused as an unknown
 * attribute) instead of replacing the object's prototype and vanishing.
 */
export function jsonLiteral(ast: ValueNode, variables: Record<string, unknown> | null | undefined): unknown {
  switch (ast.kind) {
    case Kind.OBJECT: {
      const object: Record<string, unknown> = {};
      for (const field of ast.fields) {
        Object.defineProperty(object, field.name.value, {
          value: jsonLiteral(field.value, variables),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return object;
    }
    case Kind.LIST:
      return ast.values.map((value) => jsonLiteral(value, variables));
    default:
      return valueFromASTUntyped(ast, variables);
  }
}

builder.scalarType("JSON", {
  description: "Any JSON value.",
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: (ast, variables) => jsonLiteral(ast, variables),
});

builder.scalarType("Timestamp", {
  description: "A point in time, in whole seconds since the Unix epoch (as `updated_at` in the REST face).",
  serialize: (value) => value,
  parseValue: (value) => {
    if (typeof value !== "number" || !Number.isInteger(value)) throw new GraphQLError("Timestamp must be an integer");
    return value;
  },
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.INT) throw new GraphQLError("Timestamp must be an integer");
    return Number(ast.value);
  },
});
