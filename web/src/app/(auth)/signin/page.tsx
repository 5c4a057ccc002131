"use client";
import { Anchor, Button, PasswordInput, Stack, Text, TextInput } from "@mantine/core";
import { useForm } from "@mantine/form";
import Link from "next/link";
import { useRouter, useSearchParams } from "next/navigation";
import { Suspense, useState } from "react";

import { safeNext, signIn } from "@/api/auth";
import { ErrorAlert } from "@/components/common/ErrorAlert";
import { AuthCard } from "@/components/shell/AuthCard";

function SignInForm() {
  const router = useRouter();
  const next = safeNext(useSearchParams().get("next"));
  const [error, setError] = useState<unknown>(null);
  const form = useForm({
    initialValues: { email: "", password: "" },
    validate: {
      email: (v) => (/^\S+@\S+$/.test(v) ? null : "Enter your email address"),
      password: (v) => (v ? null : "Enter your password"),
    },
  });

  const submit = form.onSubmit(async ({ email, password }) => {
    setError(null);
    try {
      await signIn(email, password);
      router.replace(next);
    } catch (err) {
      setError(err);
    }
  });

  return (
    <AuthCard title="Sign in">
      <form onSubmit={submit} noValidate>
        <Stack>
          <TextInput label="Email" type="email" autoComplete="email" required data-testid="signin-email" {...form.getInputProps("email")} />
          <PasswordInput label="Password" autoComplete="current-password" required data-testid="signin-password" {...form.getInputProps("password")} />
          <Button type="submit" loading={form.submitting} data-testid="signin-submit">
            Sign in
          </Button>
          <ErrorAlert error={error} testId="signin-error" />
          <Text size="sm">
            New here?{" "}
            <Anchor component={Link} href="/signup/">
              Create an account
            </Anchor>
          </Text>
        </Stack>
      </form>
    </AuthCard>
  );
}

export default function SignInPage() {
  return (
    <Suspense>
      <SignInForm />
    </Suspense>
  );
}
