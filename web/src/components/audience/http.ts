// Calls the typed client cannot make (multipart uploads, CSV and raw message bodies),
// and API field errors onto Mantine forms.
import { API_BASE, authedFetch } from "@/api/client";
import { ApiError, toApiError } from "@/api/errors";

/** fetch with the session; a non-2xx answer throws ApiError with the API's message. */
export async function rawRequest(path: string, init?: RequestInit): Promise<Response> {
  const response = await authedFetch(new Request(`${API_BASE}${path}`, init));
  if (!response.ok) {
    let body: unknown = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    throw toApiError(response.status, body);
  }
  return response;
}

interface SettableForm {
  values: object;
  setErrors: (errors: Record<string, string>) => void;
}

/** Puts each API field error next to its field; true if any landed. */
export function applyFieldErrors(form: SettableForm, error: unknown): boolean {
  if (!(error instanceof ApiError)) return false;
  const errors = error.fieldErrors();
  const known = Object.fromEntries(
    Object.entries(errors).filter(([name]) => name.split(".")[0]! in form.values),
  );
  if (Object.keys(known).length === 0) return false;
  form.setErrors(known);
  return true;
}
