// Faces panel: identify the faces of a photo (boxes drawn with names and distances),
// enroll people, list and delete them, and verify whether two photos show the same person.
// Talks to /v1/faces, /v1/faces/identify and /v1/faces/verify (docs/serve.md).
"use strict";

sightkit.registerPanel({
  name: "faces",
  title: "Faces",

  render(root, {api, models}) {
    const {el, messageLine, guard, dropZone, formData} = sightkit;
    const UNKNOWN = "unknown";  // the name the server gives a face beyond the threshold

    /** A titled sub-section with its own status and error lines. */
    function part(id, title, ...content) {
      const status = messageLine(`${id}-status`);
      const error = messageLine(`${id}-error`, "error");
      const section = el("section", {class: "part", "aria-labelledby": `${id}-title`},
        el("h3", {id: `${id}-title`}, title), ...content, status.element, error.element);
      return {section, status, error};
    }

    /** A labelled file input (native, so it is keyboard-usable as it is). */
    function fileField(id, text, multiple = false) {
      const input = el("input", {id, type: "file", accept: "image/*", multiple, required: true});
      return {input, field: el("div", {class: "field"}, el("label", {for: id}, text), input)};
    }

    const {threshold, calibrated} = models.faces;
    root.append(el("p", {class: "lead"},
      `Faces closer than ${threshold.toFixed(2)} to an enrolled person are named`,
      calibrated ? " (calibrated threshold)." : " (default threshold, not calibrated)."));

    // ------------------------------------------------------------ identify
    const canvas = el("canvas", {id: "faces-canvas", role: "img", "aria-label": "The photo with its faces boxed"});
    const faceList = el("ul", {id: "faces-result", class: "plain", "aria-live": "polite"});
    const identify = part("faces-identify", "Who is in this photo?",
      dropZone({id: "faces-drop", onFiles: ([file]) => identifyPhoto(file)}));
    identify.section.append(el("div", {class: "result"}, faceList, canvas));
    canvas.hidden = true;

    async function identifyPhoto(file) {
      const button = identify.section.querySelector(".dropzone");
      const answer = await guard({button, status: identify.status, error: identify.error, busyText: "Looking for faces…"},
        () => api.post("/v1/faces/identify", formData({file, top_k: 3})));
      faceList.replaceChildren();
      canvas.hidden = !answer;
      if (!answer) return;
      if (answer.reason) faceList.append(el("li", {}, `${answer.reason[0].toUpperCase()}${answer.reason.slice(1)}.`));
      faceList.append(...answer.faces.map((face, i) => el("li", {}, `Face ${i + 1}: ${describe(face)}`)));
      await drawFaces(file, answer);
    }

    function describe(face) {
      if (face.distance === null) return "nobody is enrolled yet";
      const verdict = face.name === UNKNOWN ? `unknown (closest: ${face.top[0].name})` : face.name;
      return `${verdict}, distance ${face.distance.toFixed(2)}`;
    }

    async function drawFaces(file, answer) {
      const url = URL.createObjectURL(file);
      try {
        const image = await loadImage(url);
        canvas.width = answer.width;
        canvas.height = answer.height;
        const context = canvas.getContext("2d");
        context.drawImage(image, 0, 0, answer.width, answer.height);
        const fontSize = Math.max(14, Math.round(answer.width / 28));
        context.lineWidth = Math.max(2, Math.round(answer.width / 180));
        context.font = `${fontSize}px system-ui, sans-serif`;
        answer.faces.forEach((face) => drawBox(context, face, fontSize));
      } finally {
        URL.revokeObjectURL(url);
      }
    }

    function drawBox(context, face, fontSize) {
      const {left, top, right, bottom} = face.box;
      const colour = face.name === UNKNOWN ? "#f59e0b" : "#22c55e";
      context.strokeStyle = colour;
      context.strokeRect(left, top, right - left, bottom - top);
      const text = face.distance === null ? face.name : `${face.name} ${face.distance.toFixed(2)}`;
      const pad = Math.round(fontSize / 4);
      const width = context.measureText(text).width + 2 * pad;
      const y = top >= fontSize + 2 * pad ? top - fontSize - 2 * pad : bottom;  // above the box if it fits
      context.fillStyle = colour;
      context.fillRect(left, y, width, fontSize + 2 * pad);
      context.fillStyle = "#111";
      context.textBaseline = "top";
      context.fillText(text, left + pad, y + pad);
    }

    function loadImage(url) {
      return new Promise((resolve, reject) => {
        const image = new Image();
        image.addEventListener("load", () => resolve(image));
        image.addEventListener("error", () => reject(new Error("the browser cannot show this image")));
        image.src = url;
      });
    }

    // ------------------------------------------------------------ enroll
    const name = el("input", {id: "enroll-name", name: "name", type: "text", required: true, autocomplete: "off"});
    const enrollFiles = fileField("enroll-files", "Photos of this person", true);
    const replace = el("input", {id: "enroll-replace", type: "checkbox"});
    const enrollButton = el("button", {type: "submit", id: "enroll-submit"}, "Enroll");
    const enrollForm = el("form", {id: "enroll-form", class: "stack"},
      el("div", {class: "field"}, el("label", {for: "enroll-name"}, "Name"), name),
      enrollFiles.field,
      el("label", {class: "check"}, replace, " Replace this person's photos"),
      el("div", {}, enrollButton));
    const enrollMessage = el("p", {id: "enroll-message", role: "status"});
    const enroll = part("faces-enroll", "Enroll a person", enrollForm, enrollMessage);

    enrollForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      enrollMessage.textContent = "";
      const fields = {name: name.value.trim(), file: [...enrollFiles.input.files], replace: replace.checked};
      const answer = await guard({button: enrollButton, status: enroll.status, error: enroll.error, busyText: "Enrolling…"},
        () => api.post("/v1/faces", formData(fields)));
      if (!answer) return;
      enrollMessage.textContent = enrolledText(answer);
      enrollForm.reset();
      refreshPeople();
    });

    function enrolledText(answer) {
      const skipped = answer.skipped.map((s) => `${s.image}: ${s.reason}`).join("; ");
      return `Enrolled ${answer.name} from ${answer.enrolled} photo${answer.enrolled === 1 ? "" : "s"}.`
        + (skipped ? ` Skipped ${skipped}.` : "");
    }

    // ------------------------------------------------------------ people
    const peopleList = el("ul", {id: "people-list", class: "people"});
    const people = part("faces-people", "Enrolled people", peopleList);

    async function refreshPeople() {
      const answer = await guard({status: people.status, error: people.error, busyText: "Loading…"},
        () => api.get("/v1/faces"));
      if (!answer) return;
      peopleList.replaceChildren(...answer.people.map(personItem));
      if (!answer.people.length) peopleList.append(el("li", {class: "muted"}, "Nobody is enrolled yet."));
    }

    function personItem(person) {
      const remove = el("button", {type: "button", class: "secondary", "aria-label": `Delete ${person.name}`}, "Delete");
      remove.addEventListener("click", async () => {
        if (!window.confirm(`Delete ${person.name} from the gallery? This cannot be undone.`)) return;
        const done = await guard({button: remove, status: people.status, error: people.error, busyText: "Deleting…"},
          () => api.del(`/v1/faces/${encodeURIComponent(person.name)}`));
        if (done) refreshPeople();
      });
      return el("li", {},
        el("span", {class: "person-name"}, person.name),
        el("span", {class: "muted"}, `${person.images} photo${person.images === 1 ? "" : "s"}`),
        remove);
    }

    // ------------------------------------------------------------ verify
    const first = fileField("verify-a", "First photo");
    const second = fileField("verify-b", "Second photo");
    const verifyButton = el("button", {type: "submit", id: "verify-submit"}, "Compare");
    const verifyResult = el("p", {id: "verify-result", role: "status"});
    const verifyForm = el("form", {id: "verify-form", class: "stack"}, first.field, second.field, el("div", {}, verifyButton));
    const verify = part("faces-verify", "Same person?", verifyForm, verifyResult);

    verifyForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      verifyResult.textContent = "";
      const fields = {a: first.input.files[0], b: second.input.files[0]};
      const answer = await guard({button: verifyButton, status: verify.status, error: verify.error, busyText: "Comparing…"},
        () => api.post("/v1/faces/verify", formData(fields)));
      if (answer) {
        verifyResult.textContent = `${answer.same ? "Same person" : "Different people"}: distance `
          + `${answer.distance.toFixed(2)} (threshold ${answer.threshold.toFixed(2)}).`;
      }
    });

    root.append(identify.section, enroll.section, people.section, verify.section);
    refreshPeople();
  },
});
