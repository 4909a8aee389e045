/** A signed-in user: the access token's subject and the application it was issued to. */
export interface Principal {
  readonly sub: string;
  readonly clientId: string | null;
}

/**
 * Who asks for a code: an application that proved its credentials, or a signed-in user; with the network address
 * the request came from, when known (for the per-address ceiling).
 */
export type OtpRequester = (
  | { readonly kind: "client"; readonly clientId: string }
  | { readonly kind: "user"; readonly principal: Principal }
) & { readonly address?: string | undefined };
