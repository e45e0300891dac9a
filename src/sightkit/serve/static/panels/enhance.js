// Enhance panel: upscale a photo and compare before and after with a slider.
// Talks to POST /v1/enhance/upscale, which answers image/png (docs/serve.md).
"use strict";

sightkit.registerPanel({
  name: "enhance",
  title: "Upscale",

  render(root, {api, models}) {
    const {el, messageLine, guard, dropZone, formData} = sightkit;
    const {name, scale, kind} = models.upscaler;
    const urls = {before: null, after: null};

    const status = messageLine("enhance-status");
    const error = messageLine("enhance-error", "error");
    const drop = dropZone({id: "enhance-drop", onFiles: ([file]) => upscale(file)});

    // The "after" image lies over the "before" one at the same size; the slider clips it.
    const before = el("img", {id: "enhance-before", alt: "Before: the original, enlarged by the browser"});
    const after = el("img", {id: "enhance-after", class: "after", alt: `After: upscaled ×${scale} by sightkit`});
    const divider = el("span", {class: "divider", "aria-hidden": "true"});
    const slider = el("input", {id: "enhance-slider", type: "range", min: 0, max: 100, value: 50});
    const sizes = el("p", {id: "enhance-sizes", class: "muted"});
    const download = el("a", {id: "enhance-download", class: "button-link", href: "#"}, "Download the upscaled PNG");
    const result = el("div", {id: "enhance-result", class: "result", hidden: true},
      sizes,
      el("div", {class: "compare"}, before, after, divider,
        el("span", {class: "tag tag-after", "aria-hidden": "true"}, "After"),
        el("span", {class: "tag tag-before", "aria-hidden": "true"}, "Before")),
      el("div", {class: "field"}, el("label", {for: "enhance-slider"}, "Before / after (share of the picture shown upscaled)"), slider),
      download);

    root.append(
      el("p", {class: "lead"}, `Upscale a photo ×${scale} with ${name} (${kind} model).`),
      drop, status.element, error.element, result);

    slider.addEventListener("input", clip);
    clip();

    function clip() {
      const shown = Number(slider.value);
      after.style.clipPath = `inset(0 ${100 - shown}% 0 0)`;
      divider.style.left = `${shown}%`;
    }

    async function upscale(file) {
      const answer = await guard({button: drop.querySelector(".dropzone"), status, error, busyText: "Upscaling…"},
        () => api.postForBlob("/v1/enhance/upscale", formData({file})));
      result.hidden = !answer;
      if (answer) show(file, answer);
    }

    function show(file, {blob, headers}) {
      for (const url of Object.values(urls)) if (url) URL.revokeObjectURL(url);
      urls.before = URL.createObjectURL(file);
      urls.after = URL.createObjectURL(blob);
      before.src = urls.before;
      after.src = urls.after;
      const times = `×${headers.get("X-Scale") ?? scale}`;
      sizes.textContent = `${headers.get("X-Input-Size")} → ${headers.get("X-Output-Size")} pixels (${times})`;
      download.href = urls.after;
      download.download = `${file.name.replace(/\.[^.]*$/, "")}-x${scale}.png`;
    }
  },
});
