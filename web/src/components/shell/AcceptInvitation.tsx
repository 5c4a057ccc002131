"use client";
import { Anchor, Button, PasswordInput, Stack, Text, TextInput } from "@mantine/core";
import { useForm } from "@mantine/form";
import Link from "next/link";
import { useRouter, useSearchParams } from "next/navigation";
import { useEffect, useState } from "react";

import { acceptInvitation } from "@/api/auth";
import { ApiError } from "@/api/errors";
import { isSignedIn } from "@/api/session";
import { ErrorAlert } from "@/components/common/ErrorAlert";

import { AuthCard } from "./AuthCard";

/** Accept an invitation: signed in as the invited address, or as someone new with a password. */
export function AcceptInvitation() {
  const router = useRouter();
  const params = useSearchParams();
  const token = params.get("token") ?? "";
  const [signedIn, setSignedIn] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => setSignedIn(isSignedIn()), []);

  const form = useForm({
    initialValues: { name: "", password: "" },
    validate: { password: (v) => (v.length >= 10 ? null : "At least 10 characters") },
  });
  const here = `/invitations/accept/?token=${encodeURIComponent(token)}`;

  const accept = async (body: { password?: string; name?: string }) => {
    setError(null);
    setBusy(true);
    try {
      await acceptInvitation({ token, ...body });
      router.replace("/dashboard/");
    } catch (err) {
      if (err instanceof ApiError) form.setErrors(err.fieldErrors());
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  if (!token) {
    return (
      <AuthCard title="Accept an invitation">
        <Text>This link has no invitation in it. Ask for a new one.</Text>
      </AuthCard>
    );
  }

  return (
    <AuthCard title="Accept an invitation" subtitle="You have been invited to a Maily workspace.">
      {signedIn ? (
        <Stack>
          <Button onClick={() => void accept({})} loading={busy} data-testid="invitation-accept">
            Join the workspace
          </Button>
          <ErrorAlert error={error} testId="invitation-error" />
        </Stack>
      ) : (
        <form onSubmit={form.onSubmit((values) => void accept(values))} noValidate>
          <Stack>
            <Text size="sm">
              Have an account already?{" "}
              <Anchor component={Link} href={`/signin/?next=${encodeURIComponent(here)}`}>
                Sign in first
              </Anchor>
              . New to Maily? Choose a password.
            </Text>
            <TextInput label="Your name" autoComplete="name" {...form.getInputProps("name")} />
            <PasswordInput
              label="Password"
              description="At least 10 characters"
              autoComplete="new-password"
              required
              data-testid="invitation-password"
              {...form.getInputProps("password")}
            />
            <Button type="submit" loading={busy} data-testid="invitation-accept">
              Create account and join
            </Button>
            <ErrorAlert error={error} testId="invitation-error" />
          </Stack>
        </form>
      )}
    </AuthCard>
  );
}
