/** A signed-in user: the access token's subject, the application it was issued to, and what the token says. */
export interface Principal {
  readonly sub: string;
  readonly clientId: string | null;
  /** The scopes the token grants. */
  readonly scopes: readonly string[];
  /** When the user last authenticated (`auth_time`, epoch seconds), if the token says. */
  readonly authTime: number | undefined;
}

/**
 * Who asks for a code: an application that proved its credentials, or a signed-in user; with the network address
 * the request came from, when known (for the per-address ceiling).
 */
export type OtpRequester = (
  | { readonly kind: "client"; readonly clientId: string }
  | { readonly kind: "user"; readonly principal: Principal }
) & { readonly address?: string | undefined };
