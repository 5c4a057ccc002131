"use client";
// Drag-and-drop MJML editing with grapesjs + grapesjs-mjml. The MJML it exports goes
// back through the API (validated and saved as the next version), never stored here.
import "grapesjs/dist/css/grapes.min.css";

import { Alert, Button, Group, Text } from "@mantine/core";
import grapesjs, { type Editor } from "grapesjs";
import grapesjsMjml from "grapesjs-mjml";
import { useEffect, useRef, useState } from "react";

type Props = {
  source: string;
  saving: boolean;
  canSave: boolean;
  onApply: (mjml: string) => void;
  onSave: (mjml: string) => void;
};

export function VisualEditor({ source, saving, canSave, onApply, onSave }: Props) {
  const container = useRef<HTMLDivElement>(null);
  const editor = useRef<Editor | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  // The source the editor was opened with; later edits come from the editor itself.
  const initial = useRef(source);

  useEffect(() => {
    if (!container.current) return;
    try {
      const instance = grapesjs.init({
        container: container.current,
        height: "640px",
        width: "auto",
        fromElement: false,
        storageManager: false,
        plugins: [grapesjsMjml],
        pluginsOpts: { [grapesjsMjml as unknown as string]: { imagePlaceholderSrc: "" } },
      });
      instance.setComponents(initial.current.includes("<mjml") ? initial.current : "<mjml><mj-body></mj-body></mjml>");
      editor.current = instance;
    } catch (err) {
      setLoadError(err instanceof Error ? err.message : String(err));
    }
    return () => {
      editor.current?.destroy();
      editor.current = null;
    };
  }, []);

  const exported = () => editor.current?.getHtml().trim() ?? "";

  return (
    <div>
      <Text size="sm" c="dimmed" mb="xs">
        Drag blocks from the panel on the right into the email. Merge tags inside text and links are kept;
        Jinja statements around whole elements (<code>{"{% if %}"}</code>) are best edited in the code view.
      </Text>
      {loadError ? (
        <Alert color="red" role="alert" mb="sm">
          The visual editor could not open this MJML: {loadError}
        </Alert>
      ) : null}
      <div ref={container} data-testid="template-visual-editor" aria-label="Visual MJML editor" />
      <Group mt="sm">
        <Button variant="default" onClick={() => onApply(exported())} data-testid="template-visual-apply">
          Copy to code view
        </Button>
        <Button onClick={() => onSave(exported())} loading={saving} disabled={!canSave} data-testid="template-visual-save">
          Save MJML as a new version
        </Button>
      </Group>
    </div>
  );
}
