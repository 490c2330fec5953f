// Sequential Img2Img: picking a preset fills in the widgets it sets; editing one of them switches to "custom"; a steps x
// strength that would run no denoising step is explained on the node before it is queued (the server refuses it too).
// LLM Frame Planner: its warnings (e.g. it planned offline) are shown on the node, not only in the server log.
// The server applies the preset either way (API graphs need no script); this keeps the canvas honest.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const NODE = "GhibliSequentialImg2Img";
let table = null;

async function presets() {
  if (!table) {
    const res = await api.fetchApi("/ghibli/presets");
    table = res.ok ? await res.json() : { presets: {}, widgets: [], custom: "custom" };
  }
  return table;
}

function widget(node, name) {
  return node.widgets?.find((w) => w.name === name);
}

// `text` broken into rows no wider than `width` pixels.
function wrap(ctx, text, width) {
  const rows = [];
  let row = "";
  for (const word of text.split(" ")) {
    const next = row ? row + " " + word : word;
    if (row && ctx.measureText(next).width > width) {
      rows.push(row);
      row = word;
    } else {
      row = next;
    }
  }
  return row ? [...rows, row] : rows;
}

// A node's warnings, drawn inside the node (it grows to hold them, wrapped to its width), kept in its properties so they
// survive switching tabs and reloading the workflow, and (when they come from a run) shown as a toast in the front end's
// notification area where it has one. node.ghibliWarnings holds them for tests and other scripts.
const WARNING_FONT = "12px sans-serif";
const ROW = 15;
let measurer = null;

function warningRows(node) {
  measurer ??= document.createElement("canvas").getContext("2d");
  measurer.font = WARNING_FONT;
  return (node.ghibliWarnings ?? []).flatMap((line) => wrap(measurer, "\u26a0 " + line, node.size[0] - 12));
}

function setWarnings(node, lines, { toast = false } = {}) {
  node.ghibliWarnings = lines;
  node.properties = node.properties ?? {};
  if (lines.length) node.properties.ghibli_warnings = lines;
  else delete node.properties.ghibli_warnings;
  const rows = warningRows(node);
  const base = node.computeSize?.()[1] ?? node.size[1];
  node.ghibliWarningHeight = rows.length ? rows.length * ROW + 8 : 0;
  node.size[1] = Math.max(base + node.ghibliWarningHeight, rows.length ? node.size[1] : base);
  if (!node.ghibliDrawsWarnings) {
    node.ghibliDrawsWarnings = true;
    const draw = node.onDrawForeground;
    node.onDrawForeground = function (ctx, ...rest) {
      const result = draw?.call(this, ctx, ...rest);
      if (this.ghibliWarnings?.length && !this.flags?.collapsed) {
        const rows = warningRows(this);
        const top = this.size[1] - rows.length * ROW - 4;
        ctx.save();
        ctx.font = WARNING_FONT;
        ctx.fillStyle = "#f5a524";
        rows.forEach((row, i) => ctx.fillText(row, 6, top + ROW * i + 11));
        ctx.restore();
      }
      return result;
    };
    const resize = node.onResize;
    node.onResize = function (size, ...rest) {  // a narrower node wraps into more rows: keep room for them
      const result = resize?.call(this, size, ...rest);
      const need = (this.computeSize?.()[1] ?? 0) + warningRows(this).length * ROW + 8;
      if (this.ghibliWarnings?.length && this.size[1] < need) this.size[1] = need;
      return result;
    };
  }
  if (toast && lines.length) {
    app.extensionManager?.toast?.add?.({ severity: "warn", summary: node.title ?? node.type, detail: lines.join("\n"), life: 10000 });
  }
  node.setDirtyCanvas?.(true, true);
}

// The saver's preview shows only the latest run's kind: a video's player goes when an image comes, and an image when
// a video comes (the front end keeps both otherwise).
function clearOtherPreview(node, output) {
  const file = output?.images?.[0]?.filename ?? "";
  const video = /\.(mp4|webm)$/i.test(file);
  // the front end picks the preview's kind from the node too (its previewMediaType, a video container): reset both
  node.previewMediaType = video ? "video" : "image";
  if (video) {
    node.imgs = undefined;
    node.imageIndex = null;
    return;
  }
  const isVideo = (w) => w?.element && (w.element.tagName === "VIDEO" || w.element.querySelector?.("video"));
  for (const w of [...(node.widgets ?? [])].filter(isVideo)) {
    w.onRemove?.();
    w.element?.remove?.();
    node.widgets.splice(node.widgets.indexOf(w), 1);
  }
  node.videoContainer?.remove?.();
  node.videoContainer = undefined;
}

// The painting values in effect: the preset's, or the widgets' under "custom".
function noDenoisingStep(node, t) {
  const preset = widget(node, "preset")?.value;
  const values = t.presets[preset] ?? {};
  const steps = values.steps ?? widget(node, "steps")?.value;
  const strength = values.strength ?? widget(node, "strength")?.value;
  if (typeof steps !== "number" || typeof strength !== "number") return null;
  if (Math.floor(steps * strength + 1e-9) >= 1) return null;
  return `steps ${steps} x strength ${strength} runs no denoising step: raise steps or strength`;
}

app.registerExtension({
  name: "ghibli.presets",
  async nodeCreated(node) {
    if (node.comfyClass === "GhibliFramePlanner") {
      const onExecuted = node.onExecuted;
      node.onExecuted = function (output, ...rest) {
        setWarnings(this, output?.warnings ?? [], { toast: true });
        return onExecuted?.call(this, output, ...rest);
      };
      const onConfigure = node.onConfigure;
      node.onConfigure = function (info, ...rest) {  // a saved or re-opened workflow keeps the node's warnings
        const result = onConfigure?.call(this, info, ...rest);
        const kept = this.properties?.ghibli_warnings;
        if (kept?.length) setWarnings(this, kept);
        return result;
      };
      return;
    }
    if (node.comfyClass === "GhibliSaveAnimation") {
      const onExecuted = node.onExecuted;
      node.onExecuted = function (output, ...rest) {
        clearOtherPreview(this, output);
        return onExecuted?.call(this, output, ...rest);
      };
      // and at every draw: an image the front end loads late for an earlier run never sits above the latest video
      const onDrawBackground = node.onDrawBackground;
      node.onDrawBackground = function (...args) {
        if (this.previewMediaType === "video" && this.imgs?.length) {
          this.imgs = undefined;
          this.imageIndex = null;
        }
        return onDrawBackground?.apply(this, args);
      };
      return;
    }
    if (node.comfyClass !== NODE) return;
    const t = await presets();
    const preset = widget(node, "preset");
    if (!preset) return;
    let filling = false;
    const fill = (name) => {
      const values = t.presets[name];
      if (!values) return;
      filling = true;
      // a widget only some presets set (turbo's guidance) goes back to its default under the others
      for (const [key, value] of Object.entries({ ...(t.resets ?? {}), ...values })) {
        const w = widget(node, key);
        if (w) w.value = value;
      }
      filling = false;
      node.setDirtyCanvas?.(true, true);
    };
    const check = () => {
      const problem = noDenoisingStep(node, t);
      setWarnings(node, problem ? [problem] : []);
    };
    const onPreset = preset.callback;
    preset.callback = function (value, ...rest) {
      fill(value);
      const result = onPreset?.call(this, value, ...rest);
      check();
      return result;
    };
    for (const key of t.widgets) {
      const w = widget(node, key);
      if (!w) continue;
      const onChange = w.callback;
      w.callback = function (value, ...rest) {
        const chosen = t.presets[preset.value];
        if (!filling && chosen && chosen[key] !== value) preset.value = t.custom;
        const result = onChange?.call(this, value, ...rest);
        check();
        return result;
      };
    }
    check();
  },
});
