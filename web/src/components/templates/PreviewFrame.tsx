"use client";
// A rendered email in a sandboxed iframe: no scripts, no same-origin access, no forms.
import { Box, Group, SegmentedControl, Text } from "@mantine/core";
import { useState } from "react";

type Props = { html: string; text?: string; subject?: string; title?: string; testId?: string; height?: number };

export function PreviewFrame({ html, text, subject, title = "Email preview", testId = "template-preview", height = 560 }: Props) {
  const [width, setWidth] = useState<"desktop" | "phone">("desktop");
  const [part, setPart] = useState<"html" | "text">("html");
  return (
    <Box>
      <Group justify="space-between" mb="xs" wrap="wrap" gap="xs">
        <Text size="sm" fw={600} truncate="end" maw="100%" data-testid={`${testId}-subject`}>
          {subject ? `Subject: ${subject}` : title}
        </Text>
        <Group gap="xs">
          {text !== undefined ? (
            <SegmentedControl
              size="xs"
              aria-label="Part to preview"
              value={part}
              onChange={(v) => setPart(v as "html" | "text")}
              data={[
                { value: "html", label: "HTML" },
                { value: "text", label: "Text" },
              ]}
            />
          ) : null}
          <SegmentedControl
            size="xs"
            aria-label="Preview width"
            value={width}
            onChange={(v) => setWidth(v as "desktop" | "phone")}
            data={[
              { value: "desktop", label: "Desktop" },
              { value: "phone", label: "Phone" },
            ]}
          />
        </Group>
      </Group>
      <Box
        style={{
          border: "1px solid var(--mantine-color-gray-4)",
          borderRadius: 8,
          overflow: "hidden",
          background: "white",
          maxWidth: width === "phone" ? 380 : "100%",
          margin: "0 auto",
        }}
      >
        {part === "text" && text !== undefined ? (
          <Box component="pre" p="sm" m={0} style={{ whiteSpace: "pre-wrap", height, overflow: "auto", fontSize: 13 }} data-testid={`${testId}-text`}>
            {text}
          </Box>
        ) : (
          <iframe
            title={title}
            sandbox=""
            srcDoc={html}
            data-testid={testId}
            style={{ width: "100%", height, border: 0, display: "block" }}
          />
        )}
      </Box>
    </Box>
  );
}
