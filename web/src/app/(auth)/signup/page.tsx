"use client";
import { Anchor, Button, PasswordInput, Stack, Text, TextInput } from "@mantine/core";
import { useForm } from "@mantine/form";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState } from "react";

import { signUp } from "@/api/auth";
import { ApiError } from "@/api/errors";
import { ErrorAlert } from "@/components/common/ErrorAlert";
import { AuthCard } from "@/components/shell/AuthCard";

export default function SignUpPage() {
  const router = useRouter();
  const [error, setError] = useState<unknown>(null);
  const form = useForm({
    initialValues: { name: "", email: "", password: "", workspace_name: "" },
    validate: {
      email: (v) => (/^\S+@\S+$/.test(v) ? null : "Enter your email address"),
      password: (v) => (v.length >= 10 ? null : "At least 10 characters"),
      workspace_name: (v) => (v.trim() ? null : "Name your workspace"),
    },
  });

  const submit = form.onSubmit(async (values) => {
    setError(null);
    try {
      await signUp(values);
      router.replace("/dashboard/");
    } catch (err) {
      if (err instanceof ApiError) form.setErrors(err.fieldErrors());
      setError(err);
    }
  });

  return (
    <AuthCard title="Create your account" subtitle="An account and its first workspace.">
      <form onSubmit={submit} noValidate>
        <Stack>
          <TextInput label="Your name" autoComplete="name" data-testid="signup-name" {...form.getInputProps("name")} />
          <TextInput label="Email" type="email" autoComplete="email" required data-testid="signup-email" {...form.getInputProps("email")} />
          <PasswordInput
            label="Password"
            description="At least 10 characters"
            autoComplete="new-password"
            required
            data-testid="signup-password"
            {...form.getInputProps("password")}
          />
          <TextInput label="Workspace name" required data-testid="signup-workspace" {...form.getInputProps("workspace_name")} />
          <Button type="submit" loading={form.submitting} data-testid="signup-submit">
            Create account
          </Button>
          <ErrorAlert error={error} testId="signup-error" />
          <Text size="sm">
            Already have an account?{" "}
            <Anchor component={Link} href="/signin/">
              Sign in
            </Anchor>
          </Text>
        </Stack>
      </form>
    </AuthCard>
  );
}
