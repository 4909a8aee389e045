// Versions as entity tags (RFC 9110 8.8.3, 13.1): `ETag: "<version>"`, `If-Match`, `If-None-Match` (SPEC 5.1).

/** The strong entity tag of a profile version. */
export const etagOf = (version: number): string => `"${version}"`;

/** The entity tags of an `If-Match` / `If-None-Match` value, or `"any"` for `*`. Malformed members are skipped. */
function tagsOf(header: string): { weak: boolean; opaque: string }[] | "any" {
  if (header.trim() === "*") return "any";
  const tags: { weak: boolean; opaque: string }[] = [];
  for (const match of header.matchAll(/(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"/g)) {
    tags.push({ weak: match[1] !== undefined, opaque: match[2]! });
  }
  return tags;
}

const versionOf = (opaque: string): number | undefined =>
  /^(?:0|[1-9]\d{0,9})$/.test(opaque) ? Number(opaque) : undefined;

/**
 * The versions an `If-Match` header accepts (strong comparison: weak tags match nothing), `"any"` for `*`, or
 * `undefined` without the header.
 */
export function ifMatchOf(header: string | null): readonly number[] | "any" | undefined {
  if (header === null) return undefined;
  const tags = tagsOf(header);
  if (tags === "any") return "any";
  return tags.flatMap(({ weak, opaque }) => {
    const version = weak ? undefined : versionOf(opaque);
    return version === undefined ? [] : [version];
  });
}

/** Whether an `If-None-Match` header names `version` (weak comparison) or is `*`: then `304`. */
export function notModified(header: string | null, version: number): boolean {
  if (header === null) return false;
  const tags = tagsOf(header);
  return tags === "any" || tags.some(({ opaque }) => versionOf(opaque) === version);
}
