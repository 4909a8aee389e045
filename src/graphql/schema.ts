import { type GraphQLSchema, lexicographicSortSchema, printSchema } from "graphql";
import { builder } from "./builder.js";
import "./types/scalars.js";
import "./types/errors.js";
import "./types/user-info.js";
import "./types/update-user-info.js";
import "./types/send-otp.js";

/** The GraphQL schema of SPEC 2, built once. */
export const schema: GraphQLSchema = builder.toSchema();

/** The schema as committed in `schema.graphql`: printed, types sorted. */
export const printedSchema = (): string => `${printSchema(lexicographicSortSchema(schema))}\n`;
