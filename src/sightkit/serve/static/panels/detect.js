// Detect panel: find objects in a photo and draw their boxes over it, with a score slider.
// Talks to POST /v1/detect (image + score), which answers JSON boxes in the image's pixels
// (docs/serve.md). The boxes are drawn on a canvas at the photo's natural size.
"use strict";

sightkit.registerPanel({
  name: "detect",
  title: "Detect",

  render(root, {api, models}) {
    const {el, messageLine, guard, dropZone, formData} = sightkit;
    const {name, classes} = models.detector;
    let file = null;

    const status = messageLine("detect-status");
    const error = messageLine("detect-error", "error");
    const drop = dropZone({id: "detect-drop", onFiles: ([chosen]) => { file = chosen; run(); }});
    const score = el("input", {id: "detect-score", type: "range", min: 0, max: 100, value: 30});
    const scoreText = el("span", {id: "detect-score-value"}, "0.30");
    const canvas = el("canvas", {id: "detect-canvas", role: "img", "aria-label": "The photo with the boxes found"});
    const summary = el("p", {id: "detect-summary", class: "muted"});
    const list = el("ol", {id: "detect-boxes"});
    const result = el("div", {id: "detect-result", class: "result", hidden: true}, summary, canvas, list);

    root.append(
      el("p", {class: "lead"}, `Find ${classes.join(", ")} in a photo (model ${name}).`),
      drop,
      el("div", {class: "field"}, el("label", {for: "detect-score"}, "Lowest score shown "), score, scoreText),
      status.element, error.element, result);

    score.addEventListener("input", () => { scoreText.textContent = (score.value / 100).toFixed(2); });
    score.addEventListener("change", () => { if (file) run(); });

    async function run() {
      const threshold = (score.value / 100).toFixed(2);
      const answer = await guard({button: drop.querySelector(".dropzone"), status, error, busyText: "Detecting…"},
        () => api.post("/v1/detect", formData({file, score: threshold})));
      result.hidden = !answer;
      if (answer) await draw(answer);
    }

    async function draw({width, height, boxes}) {
      const url = URL.createObjectURL(file);
      try {
        const image = new Image();
        image.src = url;
        await image.decode();
        canvas.width = width;
        canvas.height = height;
        const context = canvas.getContext("2d");
        context.drawImage(image, 0, 0, width, height);
        const line = Math.max(2, Math.round(Math.max(width, height) / 300));
        context.lineWidth = line;
        context.font = `${6 * line + 6}px sans-serif`;
        for (const box of boxes) {
          context.strokeStyle = context.fillStyle = colour(box.label);
          context.strokeRect(box.x1, box.y1, box.x2 - box.x1, box.y2 - box.y1);
          context.fillText(`${box.label} ${box.score.toFixed(2)}`, box.x1 + line, Math.max(box.y1 - line, 6 * line + 6));
        }
      } finally {
        URL.revokeObjectURL(url);
      }
      summary.textContent = `${boxes.length} object${boxes.length === 1 ? "" : "s"} in ${width}×${height} pixels`;
      list.replaceChildren(...boxes.map((box) => el("li", {},
        `${box.label} ${box.score.toFixed(2)} at (${box.x1}, ${box.y1}) – (${box.x2}, ${box.y2})`)));
    }

    function colour(label) {
      const hue = (classes.indexOf(label) * 137) % 360;
      return `hsl(${hue}, 85%, 45%)`;
    }
  },
});
