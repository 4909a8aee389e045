import { GraphQLError, Kind, valueFromASTUntyped } from "graphql";
import { builder } from "../builder.js";

builder.scalarType("JSON", {
  description: "Any JSON value.",
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: (ast, variables) => valueFromASTUntyped(ast, variables),
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
