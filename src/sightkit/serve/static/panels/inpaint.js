// Inpaint panel: paint over what to remove, then fill it, and compare before and after.
// Talks to POST /v1/enhance/inpaint (image + mask PNG, white = fill), which answers image/png
// (docs/serve.md). The mask is drawn at the image's natural size, whatever size it is shown at.
"use strict";

sightkit.registerPanel({
  name: "inpaint",
  title: "Inpaint",

  render(root, {api, models}) {
    const {el, messageLine, guard, dropZone, formData, showImage} = sightkit;
    const {name} = models.inpainter;
    const urls = {before: null, after: null};
    let file = null;
    let painted = false;
    let last = null;  // the previous point of the stroke being painted, in image pixels

    const status = messageLine("inpaint-status");
    const error = messageLine("inpaint-error", "error");
    const drop = dropZone({id: "inpaint-drop", onFiles: ([chosen]) => open(chosen)});

    // The photo is drawn on one canvas; the strokes on a second one laid over it, at the photo's
    // natural size (CSS scales both to the panel), shown half transparent.
    const picture = el("canvas", {id: "inpaint-image", "aria-hidden": "true"});
    const strokes = el("canvas", {id: "inpaint-mask", class: "inpaint-mask", role: "img",
      "aria-label": "The photo: paint over the part to fill with the mouse, a finger or a pen"});
    const brush = el("input", {id: "inpaint-brush", type: "range", min: 4, max: 80, value: 24});
    const clear = el("button", {id: "inpaint-clear", type: "button", class: "secondary"}, "Clear");
    const fill = el("button", {id: "inpaint-fill", type: "button"}, "Fill");
    const editor = el("div", {id: "inpaint-editor", hidden: true},
      el("div", {class: "paint"}, picture, strokes),
      el("div", {class: "controls"},
        el("div", {class: "field"}, el("label", {for: "inpaint-brush"}, "Brush size"), brush),
        clear, fill));

    const before = el("img", {id: "inpaint-before", alt: "Before: the photo as chosen"});
    const after = el("img", {id: "inpaint-after", alt: "After: the painted part filled by sightkit"});
    const summary = el("p", {id: "inpaint-summary", class: "muted"});
    const download = el("a", {id: "inpaint-download", class: "button-link", href: "#"}, "Download the filled PNG");
    const result = el("div", {id: "inpaint-result", class: "result", hidden: true},
      summary,
      el("div", {class: "figures"},
        el("figure", {}, before, el("figcaption", {}, "Before")),
        el("figure", {}, after, el("figcaption", {}, "After"))),
      download);

    root.append(
      el("p", {class: "lead"}, `Remove something from a photo: paint over it, then Fill (model ${name}).`),
      drop, editor, status.element, error.element, result);

    async function open(chosen) {
      error.clear();
      const url = URL.createObjectURL(chosen);
      try {
        const image = await loadImage(url);
        file = chosen;
        for (const canvas of [picture, strokes]) {
          canvas.width = image.naturalWidth;
          canvas.height = image.naturalHeight;
        }
        picture.getContext("2d").drawImage(image, 0, 0);
        strokes.getContext("2d").clearRect(0, 0, strokes.width, strokes.height);
        picture.classList.toggle("pixelated", image.naturalWidth < 128);
        strokes.classList.toggle("pixelated", image.naturalWidth < 128);
        painted = false;
        editor.hidden = false;
        result.hidden = true;
      } catch (err) {
        error.show(err.message);
      } finally {
        URL.revokeObjectURL(url);
      }
    }

    function loadImage(url) {
      return new Promise((resolve, reject) => {
        const image = new Image();
        image.addEventListener("load", () => resolve(image));
        image.addEventListener("error", () => reject(new Error("The browser cannot show this image.")));
        image.src = url;
      });
    }

    // ------------------------------------------------------------ painting
    /** The pointer's position in image pixels, and the brush width in image pixels. */
    function where(event) {
      const box = strokes.getBoundingClientRect();
      const scale = strokes.width / box.width;
      return {x: (event.clientX - box.left) * scale, y: (event.clientY - box.top) * scale,
              width: Number(brush.value) * scale};
    }

    function paint(point) {
      const context = strokes.getContext("2d");
      context.strokeStyle = context.fillStyle = "#ef4444";
      context.lineCap = context.lineJoin = "round";
      context.lineWidth = point.width;
      context.beginPath();
      if (last) {
        context.moveTo(last.x, last.y);
        context.lineTo(point.x, point.y);
        context.stroke();
      } else {
        context.arc(point.x, point.y, point.width / 2, 0, 2 * Math.PI);
        context.fill();
      }
      last = point;
      painted = true;
    }

    strokes.addEventListener("pointerdown", (event) => {
      event.preventDefault();
      strokes.setPointerCapture(event.pointerId);
      last = null;
      paint(where(event));
    });
    strokes.addEventListener("pointermove", (event) => {
      if (last) paint(where(event));
    });
    for (const type of ["pointerup", "pointercancel"]) strokes.addEventListener(type, () => { last = null; });

    clear.addEventListener("click", () => {
      strokes.getContext("2d").clearRect(0, 0, strokes.width, strokes.height);
      painted = false;
    });

    // ------------------------------------------------------------ filling
    /** The mask as a PNG blob at the image's natural size: white where painted, black elsewhere. */
    function maskBlob() {
      const mask = el("canvas", {width: strokes.width, height: strokes.height});
      const context = mask.getContext("2d");
      context.drawImage(strokes, 0, 0);
      context.globalCompositeOperation = "source-in";  // the strokes, whatever their colour, turn white
      context.fillStyle = "#fff";
      context.fillRect(0, 0, mask.width, mask.height);
      context.globalCompositeOperation = "destination-over";  // black under them
      context.fillStyle = "#000";
      context.fillRect(0, 0, mask.width, mask.height);
      return new Promise((resolve) => mask.toBlob(resolve, "image/png"));
    }

    fill.addEventListener("click", async () => {
      if (!painted) {
        error.show("Paint over the part to fill first.");
        return;
      }
      const answer = await guard({button: fill, status, error, busyText: "Filling…"}, async () => {
        const mask = new File([await maskBlob()], "mask.png", {type: "image/png"});
        return api.postForBlob("/v1/enhance/inpaint", formData({file, mask}));
      });
      result.hidden = !answer;
      if (answer) show(answer);
    });

    function show({blob, headers}) {
      for (const url of Object.values(urls)) if (url) URL.revokeObjectURL(url);
      urls.before = URL.createObjectURL(file);
      urls.after = URL.createObjectURL(blob);
      showImage(before, urls.before);
      showImage(after, urls.after);
      const share = Number(headers.get("X-Filled-Fraction") ?? 0);
      const note = headers.get("X-Notes");
      summary.textContent = `Filled ${(100 * share).toFixed(1)}% of the ${headers.get("X-Image-Size")} pixels.`
        + (note ? ` Note: ${note}.` : "");
      download.href = urls.after;
      download.download = `${file.name.replace(/\.[^.]*$/, "")}-filled.png`;
    }
  },
});
