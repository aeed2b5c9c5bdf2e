// What a job's command line and output say, read for people: the command as typed
// (`datasety resize ...`, not the interpreter's path), its input and output folders, the files
// that failed, and the args that start the same job again.

const SAFE = /^[\w@%+=:,./-]+$/;

// Shell quoting, so a shown command line can be pasted back into a terminal.
const quote = (word) => (SAFE.test(word) ? word : `'${String(word).replaceAll("'", "'\\''")}'`);

/** argv from the command name on: what follows `python -m datasety`. */
export function commandArgs(job) {
  const argv = job.argv || [];
  const module = argv.indexOf("datasety");
  if (module >= 0) return argv.slice(module + 1);
  const at = argv.indexOf(job.command);
  return at >= 0 ? argv.slice(at) : [job.command];
}

export function commandLine(job) {
  return ["datasety", ...commandArgs(job)].map(quote).join(" ");
}

/** The value given to the first of `flags` (`--input x` or `--input=x`), or "". */
export function optionValue(job, flags) {
  const args = commandArgs(job);
  for (let i = 0; i < args.length; i += 1) {
    for (const flag of flags) {
      if (args[i] === flag && i + 1 < args.length) return args[i + 1];
      if (args[i].startsWith(`${flag}=`)) return args[i].slice(flag.length + 1);
    }
  }
  return "";
}

/** The first positional argument (after `--`, as the server writes them), or "". */
export function positionalOf(job) {
  const args = commandArgs(job);
  const at = args.indexOf("--");
  return at >= 0 && at + 1 < args.length ? args[at + 1] : "";
}

// What a job reads: --input, else the folder or file another command names its source with
// (align --target, upload --path, workflow --file, inspect's DIRECTORY).
export const inputOf = (job) => optionValue(job, ["--input", "-i", "--input-dir", "--input-image", "--file", "-f", "--path", "--target"]) || positionalOf(job);
export const outputOf = (job) => optionValue(job, ["--output", "-o", "--output-dir"]);

const SUMMARY = /^Done: (\d+) processed, (\d+) skipped, (\d+) failed/;
const FAILED_LINE = /^Failed: (.+?): (.*)$/;

/** {processed, skipped, failed} from the batch summary line, or null before it is printed. */
export function summaryOf(job) {
  for (const line of [...(job.output || [])].reverse()) {
    const found = SUMMARY.exec(line);
    if (found) return { processed: Number(found[1]), skipped: Number(found[2]), failed: Number(found[3]) };
  }
  return null;
}

/** [{item, reason}] for each `Failed: item: reason` line of the output. */
export function failedItems(job) {
  if (Array.isArray(job.failed_items)) return job.failed_items.map((f) => (typeof f === "string" ? { item: f, reason: "" } : f));
  const items = [];
  for (const line of job.output || []) {
    const found = FAILED_LINE.exec(line);
    if (found) items.push({ item: found[1], reason: found[2] });
  }
  return items;
}

/** The status to show: a job that ended but failed some of its files is not plain "done". */
export function outcomeOf(job) {
  const summary = summaryOf(job);
  const failed = summary ? summary.failed : 0;
  if (job.status === "done" && failed > 0) return { status: "partial", label: `done, ${failed} failed` };
  if (job.status === "failed" && summary && failed > 0 && summary.processed > 0) return { status: "failed", label: `${failed} failed` };
  return { status: job.status, label: job.status };
}

/** The form's args back from a job's command line, for a re-run (params: /v1/commands). */
export function argsFromArgv(job, params) {
  const args = {};
  const byFlag = new Map();
  for (const param of params) {
    for (const opt of param.opts || []) byFlag.set(opt, [param, true]);
    for (const opt of param.secondary_opts || []) byFlag.set(opt, [param, false]);
  }
  const positional = params.filter((p) => p.positional);
  const words = commandArgs(job).slice(1);
  for (let i = 0; i < words.length; i += 1) {
    let word = words[i];
    let inline = null;
    if (word.startsWith("--") && word.includes("=")) [word, inline] = [word.slice(0, word.indexOf("=")), word.slice(word.indexOf("=") + 1)];
    const known = byFlag.get(word);
    if (!known) {
      const next = positional.shift();
      if (next) args[next.name] = words[i];
      continue;
    }
    const [param, on] = known;
    if (param.flag || param.is_flag) {
      args[param.name] = on;
      continue;
    }
    const value = inline ?? words[(i += 1)];
    if (param.multiple) (args[param.name] ||= []).push(value);
    else args[param.name] = value;
  }
  return args;
}
