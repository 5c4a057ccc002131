"use client";
import { Alert } from "@mantine/core";
import { IconAlertCircle } from "@tabler/icons-react";

import { errorMessage } from "@/api/errors";

/** An API error in words, shown next to what caused it (under a button, above a table). */
export function ErrorAlert({ error, title, testId }: { error: unknown; title?: string; testId?: string }) {
  if (!error) return null;
  return (
    <Alert
      color="red"
      variant="light"
      icon={<IconAlertCircle size={18} />}
      title={title}
      role="alert"
      data-testid={testId ?? "error-alert"}
    >
      {errorMessage(error)}
    </Alert>
  );
}
