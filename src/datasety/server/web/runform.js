// The Run form, generated from GET /v1/commands: one field per click parameter, typed by the
// parameter's type (text, number, checkbox), choices as a select, defaults filled in, required
// fields marked, help text as hints. Input-like fields start with the current dataset's path.

import { h } from "./dom.js";

const INPUT_LIKE = /^(input|inputs|input_dir|input_path|input_folder|dataset|dataset_path|src|source|folder|directory|dir)$/;
const HIDDEN_COMMANDS = new Set(["server"]); // a server inside a job is never what anyone wants

const typeName = (param) => String(param.type ?? param.param_type ?? "").toLowerCase();

export function fieldKind(param) {
  const type = typeName(param);
  if (param.flag || param.is_flag || ["bool", "boolean", "flag"].includes(type)) return "checkbox";
  const choices = Array.isArray(param.choices) && param.choices.length;
  // A repeatable option: several choices at once, or one value per line.
  if (param.multiple) return choices ? "multiselect" : "lines";
  if (param.nargs && param.nargs !== 1) return "words";
  if (choices) return "select";
  if (["int", "integer"].includes(type) || type.startsWith("integer")) return "integer";
  if (["float", "number"].includes(type) || type.startsWith("float")) return "float";
  return "text";
}

// How the parameter is spelled on the command line: its flags, or nothing for a positional.
const flagText = (param) => {
  if (param.positional) return "";
  if (Array.isArray(param.opts) && param.opts.length) return param.opts.join(", ");
  return `--${param.name.replaceAll("_", "-")}`;
};
const hasDefault = (param) => param.default !== undefined && param.default !== null;

// The one_of rule a parameter belongs to: the form marks it "one of these is required".
const groupOf = (param, rules) => (rules || []).find((rule) => rule.rule === "one_of" && rule.params.includes(param.name));

function field(param, prefill, rules) {
  const kind = fieldKind(param);
  const group = groupOf(param, rules);
  const id = `arg-${param.name}`;
  const hint = param.help ? h("small", { class: "hint", id: `${id}-hint` }, param.help) : null;
  const describedBy = [hint ? `${id}-hint` : "", `${id}-error`].filter(Boolean).join(" ");
  const common = { id, name: param.name, "aria-describedby": describedBy, required: Boolean(param.required) && kind !== "checkbox" };
  let control;
  if (kind === "checkbox") {
    control = h("input", { ...common, type: "checkbox", checked: param.default === true });
  } else if (kind === "multiselect") {
    const chosen = new Set((Array.isArray(param.default) ? param.default : []).map(String));
    control = h("select", { ...common, multiple: true, size: String(Math.min(6, param.choices.length)) },
      param.choices.map((choice) => h("option", { value: String(choice), selected: chosen.has(String(choice)) }, String(choice))));
  } else if (kind === "lines") {
    const value = Array.isArray(param.default) ? param.default.join("\n") : "";
    control = h("textarea", { ...common, rows: 3, spellcheck: "false", placeholder: "one value per line", value });
  } else if (kind === "select") {
    const current = hasDefault(param) ? String(param.default) : "";
    control = h("select", common,
      !param.required && !hasDefault(param) ? h("option", { value: "" }, "—") : null,
      param.choices.map((choice) => h("option", { value: String(choice), selected: String(choice) === current }, String(choice))));
  } else {
    const numeric = kind === "integer" || kind === "float";
    const props = { ...common, type: numeric ? "number" : "text", autocomplete: "off", spellcheck: "false" };
    if (kind === "words") props.placeholder = `${param.nargs > 0 ? param.nargs : "several"} values, separated by spaces`;
    if (kind === "integer") props.step = "1";
    if (kind === "float") props.step = "any";
    if (typeof param.pattern === "string") props.pattern = param.pattern;
    if (param.min !== undefined && param.min !== null) props.min = String(param.min);
    if (param.max !== undefined && param.max !== null) props.max = String(param.max);
    let value = hasDefault(param) && !Array.isArray(param.default) ? String(param.default) : "";
    if (prefill && INPUT_LIKE.test(param.name)) value = prefill;
    control = h("input", { ...props, value });
  }
  const others = group ? group.params.filter((name) => name !== param.name).map((name) => name.replaceAll("_", " ")) : [];
  const label = h("span", { class: "label-text" }, param.name.replaceAll("_", " "),
    param.required ? h("span", { class: "required", title: "required" }, " *") : null,
    group ? h("span", { class: "required one-of", title: `required: this or ${others.join(" or ")}` }, " *", h("small", { class: "muted" }, ` or ${others.join(" or ")}`)) : null,
    // Shown while a "requires" rule asks for this field (resize's output once input is set).
    h("span", { class: "required-now", hidden: true }, " *"),
    flagText(param) ? h("code", { class: "flag muted" }, flagText(param)) : null);
  const wrapper = kind === "checkbox"
    ? h("label", { class: "field check", dataset: { kind } }, control, label)
    : h("label", { class: "field", dataset: { kind } }, label, control);
  const error = h("small", { class: "field-error error", id: `${id}-error`, role: "alert", hidden: true });
  return h("div", { class: "field-wrap", dataset: { param: param.name } }, wrapper, hint, error);
}

// -- validation --------------------------------------------------------------------------------
// The form is checked against the /v1/commands schema before anything is sent, and a 400 from
// the server is shown beside the field it names: a typo is a form error, not a failed job.

// What a field holds, as the rules read it: "" (not given), or its value ("true" when checked).
function fieldValue(form, param) {
  const control = param ? form.elements.namedItem(param.name) : null;
  if (!control) return "";
  const kind = fieldKind(param);
  if (kind === "checkbox") return control.checked ? "true" : "";
  if (kind === "multiselect") return [...control.selectedOptions].map((o) => o.value).join(",");
  const raw = control.value.trim();
  // A value-reading rule sees the default when the field is left empty, as click does.
  return raw === "" && hasDefault(param) && !Array.isArray(param.default) ? String(param.default) : raw;
}

/** Whether `values` ({name: text}) break a /v1/commands rule (the server's rules.Rule.broken). */
export function ruleBroken(rule, values) {
  const given = (name) => Boolean(values[name]);
  if (rule.rule === "one_of") return !rule.params.some(given);
  if (rule.rule === "not_together") return rule.params.filter(given).length > 1;
  const subject = values[rule.params[0]] || "";
  const triggered = rule.when ? rule.when.includes(subject) : given(rule.params[0]);
  if (!triggered) return false;
  if (rule.needs_values) return !rule.needs_values.includes(values[rule.needs[0]] || "");
  return !rule.needs.some(given);
}

/** -> {name: message} for each field the schema (its params and rules) says is wrong. */
export function validateArgs(form, params, rules = []) {
  const problems = {};
  for (const param of params) {
    const control = form.elements.namedItem(param.name);
    if (!control) continue;
    const kind = fieldKind(param);
    if (kind === "checkbox") continue;
    const raw = kind === "multiselect" ? [...control.selectedOptions].map((o) => o.value).join(" ") : control.value.trim();
    if (raw === "") {
      if (param.required) problems[param.name] = "Required";
      continue;
    }
    if (kind === "integer" || kind === "float") {
      const value = Number(raw);
      if (!Number.isFinite(value)) problems[param.name] = "Not a number";
      else if (kind === "integer" && !Number.isInteger(value)) problems[param.name] = "Must be a whole number";
      else if (param.min !== undefined && param.min !== null && value < param.min) problems[param.name] = `At least ${param.min}`;
      else if (param.max !== undefined && param.max !== null && value > param.max) problems[param.name] = `At most ${param.max}`;
    } else if (kind === "select" && !param.choices.map(String).includes(raw)) {
      problems[param.name] = `One of ${param.choices.join(", ")}`;
    } else if (typeof param.pattern === "string" && !new RegExp(`^(?:${param.pattern})$`).test(raw)) {
      problems[param.name] = param.pattern_hint ? `Expected ${param.pattern_hint}` : `Does not match ${param.pattern}`;
    }
  }
  // Rules read what each field holds, its default where it is left empty: the server makes sure
  // that a rule reading "given" names only parameters without a default.
  const values = Object.fromEntries(params.map((param) => [param.name, fieldValue(form, param)]));
  for (const rule of rules) {
    if (ruleBroken(rule, values) && !problems[rule.field]) problems[rule.field] = rule.message;
  }
  return problems;
}

/** The parameter a server error is about: the field it names, else the first flag or name it quotes. */
export function paramOfError(err, params) {
  const named = err.body && (err.body.field || err.body.param || err.body.parameter);
  if (typeof named === "string") {
    const found = params.find((p) => p.name === named || (p.opts || []).includes(named));
    if (found) return found.name;
  }
  const message = String(err.message || "");
  for (const param of params) {
    const spellings = [...(param.opts || []), ...(param.secondary_opts || [])].filter((o) => o.startsWith("--"));
    if (spellings.some((flag) => new RegExp(`${flag}(?![\\w-])`).test(message))) return param.name;
  }
  for (const param of params) {
    if (new RegExp(`['"‘“]${param.name}['"’”]`).test(message)) return param.name;
  }
  return null;
}

function showFieldError(form, name, message) {
  const control = form.elements.namedItem(name);
  const slot = form.querySelector(`#arg-${CSS.escape(name)}-error`);
  if (!control || !slot) return false;
  control.setAttribute("aria-invalid", "true");
  slot.textContent = message;
  slot.hidden = false;
  return true;
}

function clearFieldErrors(form) {
  for (const slot of form.querySelectorAll(".field-error")) slot.hidden = true;
  for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
}

// The args object for POST /v1/jobs: what the user set, leaving click's defaults to click.
export function collectArgs(form, params) {
  const args = {};
  for (const param of params) {
    const control = form.elements.namedItem(param.name);
    if (!control) continue;
    const kind = fieldKind(param);
    if (kind === "checkbox") {
      if (control.checked !== (param.default === true)) args[param.name] = control.checked;
      continue;
    }
    if (kind === "multiselect") {
      const chosen = [...control.selectedOptions].map((option) => option.value);
      if (chosen.length) args[param.name] = chosen;
      continue;
    }
    const raw = control.value.trim();
    if (raw === "") continue;
    if (kind === "lines") {
      args[param.name] = raw.split(/\r?\n/).map((line) => line.trim()).filter(Boolean);
      continue;
    }
    if (kind === "words") {
      args[param.name] = raw.split(/\s+/);
      continue;
    }
    if (!param.required && hasDefault(param) && raw === String(param.default)) continue;
    args[param.name] = kind === "integer" || kind === "float" ? Number(raw) : raw;
  }
  return args;
}

/**
 * @param {object} commands   the /v1/commands "commands" object
 * @param {string} prefill    the dataset path for input-like fields ("" for none)
 * @param {(command: string, args: object) => Promise<void>} onRun  throws to show an error
 */
export function runForm(commands, prefill, onRun) {
  const names = Object.keys(commands).filter((name) => !HIDDEN_COMMANDS.has(name));
  const select = h("select", { id: "run-command", name: "__command", "aria-label": "Command" },
    names.map((name) => h("option", { value: name, selected: name === "resize" }, name)));
  const description = h("p", { class: "muted", id: "run-description" });
  const fields = h("div", { class: "fields", id: "run-fields" });
  const error = h("p", { class: "error", id: "run-error", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "primary", id: "run-submit" }, "Run");
  // The browser's own bubbles are replaced by messages beside each field (validateArgs).
  const form = h("form", { class: "card run-form", id: "run-form", novalidate: true },
    h("h2", {}, "Run a command"),
    h("label", { class: "field" }, h("span", { class: "label-text" }, "Command"), select),
    description, fields, error,
    h("div", { class: "actions" }, submit));

  const show = () => {
    const spec = commands[select.value] || { params: [] };
    description.textContent = spec.description || spec.help || "";
    // A secret (a token) is never a job argument: the server refuses it, so no field for it.
    const secrets = (spec.params || []).filter((param) => param.secret);
    fields.replaceChildren(
      ...(spec.params || []).filter((param) => !param.secret).map((param) => field(param, prefill, spec.rules)),
      ...secrets.map((param) => h("p", { class: "muted secret-note", dataset: { param: param.name } },
        `${param.name.replaceAll("_", " ")}: a secret is not sent with a job; set ${param.env} in the server's environment.`)));
    error.hidden = true;
    markRequired();
  };
  // A field a "requires" rule asks for right now is marked as required (and says by what).
  const markRequired = () => {
    const spec = commands[select.value] || { params: [] };
    const params = (spec.params || []).filter((param) => !param.secret);
    const values = Object.fromEntries(params.map((param) => [param.name, fieldValue(form, param)]));
    const asked = new Map();
    for (const rule of spec.rules || []) {
      if (rule.rule !== "requires" || rule.needs_values || rule.needs.length !== 1) continue;
      // Triggered: with the field it needs left empty, the rule would be broken.
      if (ruleBroken(rule, { ...values, [rule.needs[0]]: "" })) asked.set(rule.needs[0], rule.message);
    }
    for (const param of params) {
      const mark = fields.querySelector(`[data-param="${CSS.escape(param.name)}"] .required-now`);
      if (!mark) continue;
      mark.hidden = !asked.has(param.name) || Boolean(param.required);
      mark.title = asked.get(param.name) || "";
    }
  };
  form.addEventListener("input", markRequired);
  form.addEventListener("change", markRequired);
  select.addEventListener("change", show);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    clearFieldErrors(form);
    const params = commands[select.value].params || [];
    const problems = Object.entries(validateArgs(form, params, commands[select.value].rules || []));
    if (problems.length) {
      for (const [name, message] of problems) showFieldError(form, name, message);
      form.elements.namedItem(problems[0][0])?.focus();
      return;
    }
    submit.disabled = true;
    try {
      await onRun(select.value, collectArgs(form, params));
    } catch (err) {
      const name = err.status === 400 ? paramOfError(err, params) : null;
      if (name && showFieldError(form, name, err.message)) form.elements.namedItem(name).focus();
      else {
        error.textContent = err.message;
        error.hidden = false;
      }
    } finally {
      submit.disabled = false;
    }
  });
  if (names.length) show();
  else fields.textContent = "The server lists no commands.";
  // Re-run: the form as a job was started (args from argsFromArgv), ready to change and run.
  form.fill = (command, args) => {
    if (!commands[command]) return;
    select.value = command;
    show();
    for (const param of commands[command].params || []) {
      const control = form.elements.namedItem(param.name);
      if (!control) continue;
      const kind = fieldKind(param);
      const value = args[param.name];
      if (kind === "checkbox") control.checked = value === undefined ? param.default === true : Boolean(value);
      else if (kind === "multiselect") {
        const chosen = new Set((value || []).map(String));
        for (const option of control.options) option.selected = chosen.has(option.value);
      } else if (value === undefined) control.value = hasDefault(param) && !Array.isArray(param.default) ? String(param.default) : "";
      else control.value = Array.isArray(value) ? value.join(kind === "lines" ? "\n" : " ") : String(value);
    }
    markRequired();
    select.focus();
  };
  return form;
}
