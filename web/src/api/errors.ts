// The API's error shape: {"error": {"code", "message", "details": [{loc|field, message}]}}.

export type ErrorDetail = { loc?: string[]; field?: string; message: string; type?: string };
type ErrorBody = { error?: { code?: string; message?: string; details?: ErrorDetail[] } };

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: ErrorDetail[];

  constructor(status: number, code: string, message: string, details: ErrorDetail[] = []) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** Field name -> message, for Mantine's form.setErrors (loc ["body", "email"] -> email). */
  fieldErrors(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const detail of this.details) {
      const name =
        detail.field ?? (detail.loc ?? []).filter((part) => part !== "body" && part !== "query").join(".");
      if (name && !(name in out)) out[name] = detail.message;
    }
    return out;
  }

  /** The message with the first field detail, for an Alert under a button. */
  describe(): string {
    const first = this.details[0];
    if (!first || this.message.includes(first.message)) return this.message;
    const where = first.field ?? (first.loc ?? []).filter((p) => p !== "body").join(".");
    return `${this.message}: ${where ? `${where}: ` : ""}${first.message}`;
  }
}

export function toApiError(status: number, body: unknown): ApiError {
  const error = (body as ErrorBody | null)?.error;
  if (error?.message) {
    return new ApiError(status, error.code ?? "error", error.message, error.details ?? []);
  }
  return new ApiError(status, "error", status ? `the server answered ${status}` : "the server did not answer");
}

/** Message for anything thrown by a query or mutation. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.describe();
  if (error instanceof TypeError) return "Maily is not answering; check the connection";
  if (error instanceof Error) return error.message;
  return "something went wrong";
}

type Result<T> = { data?: T; error?: unknown; response: Response };

/** openapi-fetch result -> data, or throw ApiError (for TanStack Query). */
export async function unwrap<T>(call: Promise<Result<T>>): Promise<T> {
  const { data, error, response } = await call;
  if (error !== undefined || !response.ok) throw toApiError(response.status, error);
  return data as T;
}
