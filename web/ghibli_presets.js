// Sequential Img2Img: picking a preset fills in the widgets it sets; editing one of them switches to "custom".
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

app.registerExtension({
  name: "ghibli.presets",
  async nodeCreated(node) {
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
    const onPreset = preset.callback;
    preset.callback = function (value, ...rest) {
      fill(value);
      return onPreset?.call(this, value, ...rest);
    };
    for (const key of t.widgets) {
      const w = widget(node, key);
      if (!w) continue;
      const onChange = w.callback;
      w.callback = function (value, ...rest) {
        const chosen = t.presets[preset.value];
        if (!filling && chosen && chosen[key] !== value) preset.value = t.custom;
        return onChange?.call(this, value, ...rest);
      };
    }
  },
});
