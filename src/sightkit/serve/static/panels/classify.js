// Classify panel: one photo -> top-k classes as bars, optionally with a Grad-CAM overlay.
// Talks to POST /v1/classify (docs/serve.md).
"use strict";

sightkit.registerPanel({
  name: "classify",
  title: "Classify",

  render(root, {api, models}) {
    const {el, messageLine, guard, dropZone, formData, showImage} = sightkit;
    const state = {file: null, photoUrl: null, result: null};

    const modelSelect = models.classifiers.length > 1 ? el("select", {id: "classify-model"},
      ...models.classifiers.map((c) => el("option", {value: c.name}, `${c.name} (${c.classes.length} classes)`))) : null;
    const gradcam = el("input", {id: "classify-gradcam", type: "checkbox"});
    const status = messageLine("classify-status");
    const error = messageLine("classify-error", "error");
    const drop = dropZone({id: "classify-drop", onFiles: ([file]) => choose(file)});

    const photo = el("img", {id: "classify-photo", alt: "The photo sent to the classifier"});
    const heatmap = el("img", {id: "classify-heatmap", alt: ""});
    const heatmapCaption = el("figcaption", {});
    const heatmapFigure = el("figure", {}, heatmap, heatmapCaption);
    const label = el("span", {id: "classify-label"});
    const score = el("span", {id: "classify-score", class: "muted"});
    const bars = el("ol", {id: "classify-topk", class: "bars", "aria-label": "Most likely classes"});
    const result = el("div", {id: "classify-result", class: "result", hidden: true},
      el("p", {class: "top-label"}, label, " ", score),
      el("div", {class: "figures"}, el("figure", {}, photo, el("figcaption", {}, "Photo")), heatmapFigure),
      bars);

    root.append(
      el("p", {class: "lead"}, "Which class is in a photo, and where the model looked."),
      el("div", {class: "controls"},
        modelSelect && el("label", {for: "classify-model"}, "Model"), modelSelect,
        el("label", {class: "check"}, gradcam, " Show Grad-CAM")),
      drop, status.element, error.element, result);

    modelSelect?.addEventListener("change", () => state.file && classify());
    gradcam.addEventListener("change", () => {
      // A result without an overlay needs a new request; otherwise the box only shows or hides it.
      if (gradcam.checked && state.result && !state.result.explanation) classify();
      else heatmapFigure.hidden = !gradcam.checked;
    });

    function choose(file) {
      state.file = file;
      if (state.photoUrl) URL.revokeObjectURL(state.photoUrl);
      state.photoUrl = URL.createObjectURL(file);
      classify();
    }

    async function classify() {
      const fields = {file: state.file, top_k: 5, explain: gradcam.checked ? "gradcam" : "none"};
      if (modelSelect) fields.model = modelSelect.value;
      const answer = await guard({button: drop.querySelector("button"), status, error, busyText: "Classifying…"},
        () => api.post("/v1/classify", formData(fields)));
      state.result = answer ?? null;
      result.hidden = !answer;
      if (answer) show(answer);
    }

    function show(answer) {
      label.textContent = answer.label;
      score.textContent = percent(answer.score);
      showImage(photo, state.photoUrl);
      const explanation = answer.explanation;
      heatmapFigure.hidden = !explanation || !gradcam.checked;
      if (explanation) {
        showImage(heatmap, `data:image/png;base64,${explanation.overlay_png}`);
        heatmap.alt = `Grad-CAM heatmap: where the model saw "${explanation.label}"`;
        heatmapCaption.textContent = `Grad-CAM for ${explanation.label}`;
      }
      bars.replaceChildren(...answer.topk.map(bar));
    }

    function bar({label: name, score: value}) {
      const fill = el("span", {class: "bar-fill"});
      fill.style.width = percent(value);
      return el("li", {},
        el("span", {class: "bar-label"}, name),
        el("span", {class: "bar-track", "aria-hidden": "true"}, fill),
        el("span", {class: "bar-value"}, percent(value)));
    }

    /** 0.9712 -> "97.1%". */
    function percent(value) {
      return `${(value * 100).toFixed(1)}%`;
    }
  },
});
