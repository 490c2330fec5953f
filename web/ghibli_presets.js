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

// Lines of warning text drawn under a node (kept on node.ghibliWarnings so tests and other scripts can read them).
function setWarnings(node, lines) {
  node.ghibliWarnings = lines;
  if (!node.ghibliDrawsWarnings) {
    node.ghibliDrawsWarnings = true;
    const draw = node.onDrawForeground;
    node.onDrawForeground = function (ctx, ...rest) {
      const result = draw?.call(this, ctx, ...rest);
      if (this.ghibliWarnings?.length && !this.flags?.collapsed) {
        ctx.save();
        ctx.font = "12px sans-serif";
        ctx.fillStyle = "#f5a524";
        const rows = this.ghibliWarnings.flatMap((line) => wrap(ctx, "\u26a0 " + line, this.size[0] - 8));
        rows.forEach((row, i) => ctx.fillText(row, 4, this.size[1] + 16 + 15 * i));
        ctx.restore();
      }
      return result;
    };
  }
  node.setDirtyCanvas?.(true, true);
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
        setWarnings(this, output?.warnings ?? []);
        return onExecuted?.call(this, output, ...rest);
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
      for (const [key, value] of Object.entries(values)) {
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
