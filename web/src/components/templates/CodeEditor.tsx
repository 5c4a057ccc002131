"use client";
// CodeMirror for MJML (XML mode) or HTML, with the lines the API reported marked.
import { html } from "@codemirror/lang-html";
import { xml } from "@codemirror/lang-xml";
import CodeMirror, {
  Decoration,
  EditorView,
  StateEffect,
  StateField,
  type DecorationSet,
  type ReactCodeMirrorRef,
} from "@uiw/react-codemirror";
import { forwardRef, useEffect, useImperativeHandle, useMemo, useRef } from "react";

import type { TemplateKind } from "./api";

const setErrorLines = StateEffect.define<number[]>();
const errorLine = Decoration.line({ attributes: { class: "cm-maily-error-line" } });

const errorLines = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(value, tr) {
    let next = value.map(tr.changes);
    for (const effect of tr.effects) {
      if (effect.is(setErrorLines)) {
        const doc = tr.state.doc;
        const lines = [...new Set(effect.value)].filter((n) => n >= 1 && n <= doc.lines).sort((a, b) => a - b);
        next = Decoration.set(lines.map((n) => errorLine.range(doc.line(n).from)));
      }
    }
    return next;
  },
  provide: (field) => EditorView.decorations.from(field),
});

const errorTheme = EditorView.theme({
  ".cm-maily-error-line": { backgroundColor: "rgba(250, 82, 82, 0.15)" },
});

export type CodeEditorHandle = { goToLine: (line: number) => void };

type Props = {
  value: string;
  onChange: (value: string) => void;
  kind: TemplateKind;
  errorLineNumbers: number[];
  label: string;
  height?: string;
};

export const CodeEditor = forwardRef<CodeEditorHandle, Props>(function CodeEditor(
  { value, onChange, kind, errorLineNumbers, label, height = "520px" },
  ref,
) {
  const cm = useRef<ReactCodeMirrorRef>(null);
  const extensions = useMemo(
    () => [kind === "mjml" ? xml() : html(), errorLines, errorTheme, EditorView.lineWrapping],
    [kind],
  );

  useImperativeHandle(ref, () => ({
    goToLine(line: number) {
      const view = cm.current?.view;
      if (!view) return;
      const n = Math.min(Math.max(line, 1), view.state.doc.lines);
      const pos = view.state.doc.line(n).from;
      view.dispatch({ selection: { anchor: pos }, effects: EditorView.scrollIntoView(pos, { y: "center" }) });
      view.focus();
    },
  }));

  const key = errorLineNumbers.join(",");
  useEffect(() => {
    const view = cm.current?.view;
    if (view) view.dispatch({ effects: setErrorLines.of(errorLineNumbers) });
    // eslint-disable-next-line react-hooks/exhaustive-deps -- the numbers, not the array
  }, [key, value]);

  return (
    <div data-testid="template-source" style={{ border: "1px solid var(--mantine-color-gray-4)", borderRadius: 8, overflow: "hidden" }}>
      <CodeMirror
        ref={cm}
        value={value}
        onChange={onChange}
        extensions={extensions}
        height={height}
        aria-label={label}
        basicSetup={{ lineNumbers: true, foldGutter: true, highlightActiveLine: true }}
      />
    </div>
  );
});
