// Sign in, sign up and accepting an invitation: each ends with tokens in the session.
import { api } from "./client";
import { unwrap } from "./errors";
import { saveTokens, storeWorkspaceId } from "./session";

export async function signIn(email: string, password: string): Promise<void> {
  const tokens = await unwrap(
    api.POST("/api/v1/auth/token", {
      body: { grant_type: "password", username: email, password, refresh_token: "" },
      bodySerializer: (body) => new URLSearchParams(body as Record<string, string>),
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    }),
  );
  saveTokens(tokens);
}

export async function signUp(body: { email: string; password: string; name: string; workspace_name: string }) {
  const tokens = await unwrap(api.POST("/api/v1/auth/signup", { body }));
  saveTokens(tokens);
}

export async function acceptInvitation(body: { token: string; password?: string; name?: string }) {
  const accepted = await unwrap(api.POST("/api/v1/invitations/accept", { body }));
  if (accepted.tokens) saveTokens(accepted.tokens);
  storeWorkspaceId(accepted.workspace.id);
  return accepted;
}

/** Only same-site paths after sign-in, never another origin. */
export function safeNext(next: string | null): string {
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/dashboard/";
}
