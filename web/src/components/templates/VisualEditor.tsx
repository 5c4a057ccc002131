"use client";
// Drag-and-drop MJML editing with grapesjs + grapesjs-mjml. The MJML it exports goes
// back through the API (validated and saved as the next version), never stored here.
import "grapesjs/dist/css/grapes.min.css";

import { Alert, Button, Group, Text } from "@mantine/core";
import grapesjs, {
  type Block,
  type Button as PanelButton,
  type Component,
  type Editor,
  type Panel,
} from "grapesjs";
import grapesjsMjml from "grapesjs-mjml";
import { useEffect, useRef, useState } from "react";

// The default panels use Font Awesome from a CDN, which a self-hosted install may not
// reach: every button gets a text label instead.
const LABELS: Record<string, string> = {
  "open-sm": "Styles",
  "open-tm": "Traits",
  "open-layers": "Layers",
  "open-blocks": "Blocks",
  "sw-visibility": "Outlines",
  preview: "Preview",
  fullscreen: "Full screen",
  "export-template": "MJML",
  "mjml-import": "Import",
  undo: "Undo",
  redo: "Redo",
  "set-device-desktop": "Desktop",
  "set-device-tablet": "Tablet",
  "set-device-mobile": "Phone",
};

function labelButtons(instance: Editor): void {
  instance.Panels.getPanels().forEach((panel: Panel) => {
    panel.buttons.forEach((button: PanelButton) => {
      const id = String(button.get("id") ?? "");
      const title = (button.get("attributes") as Record<string, string> | undefined)?.title;
      const label = LABELS[id] ?? title ?? id;
      button.set("label", `<span style="font: 600 11px system-ui, sans-serif; padding: 0 2px">${label}</span>`);
      button.set("className", "");
      button.set("attributes", { ...(button.get("attributes") as object | undefined), title: label, "aria-label": label });
    });
  });
  instance.Panels.getButton("views", "open-blocks")?.set("active", true);
}

// A click on a block adds it after the selected element, inside the selected column, or
// at the end of the email's first column: blocks can be added without dragging.
function appendBlock(block: Block, instance: Editor): void {
  const content = block.getContent();
  if (!content) return;
  const selected = instance.getSelected();
  const parent = selected?.parent();
  if (selected && selected.get("type") === "mj-column") {
    selected.append(content);
  } else if (selected && parent && parent.get("type") === "mj-column") {
    parent.append(content, { at: parent.components().indexOf(selected) + 1 });
  } else {
    const column: Component | undefined = instance.getWrapper()?.find("mj-column")[0];
    column?.append(content);
  }
}

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
        cssIcons: "",
        blockManager: { appendOnClick: appendBlock },
        plugins: [grapesjsMjml],
        pluginsOpts: { [grapesjsMjml as unknown as string]: { imagePlaceholderSrc: "" } },
      });
      instance.setComponents(initial.current.includes("<mjml") ? initial.current : "<mjml><mj-body></mj-body></mjml>");
      labelButtons(instance);
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
        Drag blocks from the panel on the right into the email, or click a block to add it after the selected
        element. Merge tags inside text and links are kept;
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
