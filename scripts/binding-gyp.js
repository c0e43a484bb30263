'use strict';
// binding.gyp read the way gyp reads it, for builds without node-gyp
// (scripts/build-addon.js): comments and trailing commas, variables (<(v), <@(v),
// <!(command)), conditions, list merging and exclusions ("cflags!"). binding.gyp
// stays the one list of sources, defines and flags.
const { execSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');

// What node-gyp's common.gypi and addon.gypi give every target on Linux and macOS,
// before binding.gyp's own keys and exclusions apply (the Makefile of a node-gyp
// build shows them). Only what changes the compiled code; warnings and -O come from binding.gyp.
const NODE_GYP_DEFAULTS = {
  defines: ['BUILDING_NODE_EXTENSION', '_LARGEFILE_SOURCE', '_FILE_OFFSET_BITS=64', '__STDC_FORMAT_MACROS'],
  cflags: ['-pthread'],
  cflags_cc: ['-fno-rtti', '-fno-exceptions', '-std=gnu++17'],
};

/** gyp's Python-literal syntax as JSON: '#' comments and trailing commas dropped, 'strings' double-quoted. */
function toJson(text) {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else if (c === '"' || c === "'") {
      let value = '';
      for (i++; text[i] !== c; i++) {
        if (i >= text.length) throw new Error('binding.gyp: unterminated string');
        value += text[i] === '\\' ? text[i] + text[++i] : text[i];
      }
      out += JSON.stringify(c === '"' ? JSON.parse(`"${value}"`) : value.replace(/\\(.)/g, '$1'));
    } else if (c === ',' && /^\s*(#[^\n]*\n\s*)*[\]}]/.test(text.slice(i + 1))) {
      // A trailing comma before ] or } (perhaps with comments in between).
    } else {
      out += c;
    }
  }
  return out;
}

function readBindingGyp(file = path.join(root, 'binding.gyp')) {
  return JSON.parse(toJson(fs.readFileSync(file, 'utf8')));
}

/** A gyp condition ("OS=='linux' and target_arch!='ia32'") evaluated with the given variables. */
function conditionHolds(condition, variables) {
  if (!/^[\w\s'"=!()]+$/.test(condition)) throw new Error(`binding.gyp: unsupported condition ${condition}`);
  const js = condition.replace(/\band\b/g, '&&').replace(/\bor\b/g, '||').replace(/\bnot\b/g, '!');
  const names = Object.keys(variables);
  return Boolean(new Function(...names, `return (${js});`)(...names.map((name) => variables[name])));
}

/** gyp's merge: lists append, dictionaries merge key by key, anything else is replaced. */
function mergeInto(target, source) {
  for (const [key, value] of Object.entries(source)) {
    if (Array.isArray(value)) target[key] = [...(target[key] ?? []), ...value];
    else if (value !== null && typeof value === 'object') target[key] = mergeInto({ ...(target[key] ?? {}) }, value);
    else target[key] = value;
  }
  return target;
}

/** A dictionary with its active "conditions" merged in (recursively), keyed as gyp would. */
function resolveConditions(dict, variables) {
  const { conditions = [], ...rest } = dict;
  const merged = mergeInto({}, rest);
  for (const [condition, then, otherwise] of conditions) {
    const branch = conditionHolds(condition, variables) ? then : otherwise;
    if (branch) mergeInto(merged, resolveConditions(branch, variables));
  }
  return merged;
}

/** Applies "key!" exclusion lists to "key" and drops them. */
function applyExclusions(dict) {
  for (const key of Object.keys(dict)) {
    if (!key.endsWith('!')) continue;
    const base = key.slice(0, -1);
    if (dict[base]) dict[base] = dict[base].filter((item) => !dict[key].includes(item));
    delete dict[key];
  }
  return dict;
}

/** Expands <(name), <@(name) (a list spliced in) and <!(command) (its output, run in the package root). */
function expand(list, variables) {
  return list.flatMap((item) => {
    const splice = /^<@\((\w+)\)$/.exec(item);
    if (splice) {
      if (!Array.isArray(variables[splice[1]])) throw new Error(`binding.gyp: <@(${splice[1]}) is not a list variable`);
      return expand(variables[splice[1]], variables);
    }
    const command = /^<!\((.*)\)$/.exec(item);
    if (command) return [execSync(command[1], { cwd: root, encoding: 'utf8' }).trim()];
    return [
      item.replace(/<\((\w+)\)/g, (_, name) => {
        if (variables[name] === undefined) throw new Error(`binding.gyp: unknown variable <(${name})`);
        return String(variables[name]);
      }),
    ];
  });
}

/**
 * One target of binding.gyp resolved for an OS ('linux', 'mac', 'win') and a
 * target_arch ('x64', 'arm64'): its sources, defines, include_dirs, cflags (C and
 * C++ together, as for .cc/.cpp files), ldflags and libraries, and its static
 * library dependencies resolved the same way.
 */
function resolveTarget(gyp, name, { os, arch }) {
  const variables = { OS: os, target_arch: arch, ...gyp.variables };
  const top = resolveConditions({ targets: gyp.targets ?? [], conditions: gyp.conditions ?? [] }, variables);
  const byName = new Map(top.targets.map((target) => [target.target_name, target]));

  function resolve(targetName) {
    const raw = byName.get(targetName);
    if (!raw) throw new Error(`binding.gyp: no target ${targetName} for OS=${os} target_arch=${arch}`);
    const vars = { ...variables, ...raw.variables, _target_name: targetName };
    const defaults = mergeInto(mergeInto({}, NODE_GYP_DEFAULTS), resolveConditions(gyp.target_defaults ?? {}, vars));
    const target = applyExclusions(mergeInto(defaults, resolveConditions(raw, vars)));
    const list = (key) => expand(target[key] ?? [], vars);
    return {
      name: targetName,
      type: target.type ?? 'loadable_module',
      sources: list('sources'),
      defines: [`NODE_GYP_MODULE_NAME=${targetName}`, ...list('defines')],
      includeDirs: list('include_dirs'),
      cflags: [...list('cflags'), ...list('cflags_cc')],
      ldflags: list('ldflags'),
      libraries: list('libraries'),
      dependencies: list('dependencies').map(resolve),
    };
  }
  return resolve(name);
}

module.exports = { readBindingGyp, resolveTarget };

if (require.main === module) {
  // node scripts/binding-gyp.js [os] [arch]: the resolved addon target, to check what a build would use.
  const [os = 'linux', arch = 'x64'] = process.argv.slice(2);
  console.log(JSON.stringify(resolveTarget(readBindingGyp(), 'fused_attention', { os, arch }), null, 2));
}
