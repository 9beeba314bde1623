"""A docs page that works offline: it renders /openapi.json itself, with no CDN assets."""

from __future__ import annotations

import html

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222 }}
h2 {{ border-bottom: 1px solid #ccc; margin-top: 2rem }}
details {{ margin: .4rem 0; border: 1px solid #ddd; border-radius: 4px; padding: .3rem .6rem }}
summary {{ cursor: pointer }} code, pre {{ background: #f5f5f5; padding: 0 .2rem }}
pre {{ padding: .5rem; overflow-x: auto }}
.m {{ display: inline-block; width: 4rem; font-weight: bold }}
</style></head>
<body><h1>{title}</h1>
<p>The machine-readable schema is at <a href="{schema}">{schema}</a>. Authenticate with
<code>Authorization: Bearer TOKEN</code> (tokens from <code>offsite token create</code>).</p>
<div id="ops">Loading the schema...</div>
<script>
const ENTITIES = {{"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}};
const esc = s => String(s ?? "").replace(/[&<>"]/g, c => ENTITIES[c]);
fetch("{schema}").then(r => r.json()).then(spec => {{
  const byTag = {{}};
  for (const [path, item] of Object.entries(spec.paths))
    for (const [method, op] of Object.entries(item))
      (byTag[(op.tags || ["other"])[0]] ??= []).push([method, path, op]);
  let out = "";
  for (const [tag, ops] of Object.entries(byTag)) {{
    out += `<h2>${{esc(tag)}}</h2>`;
    for (const [method, path, op] of ops) {{
      const params = (op.parameters || []).map(p => `<li><code>${{esc(p.name)}}</code>`
        + ` (${{esc(p.in)}}${{p.required ? ", required" : ""}}) ${{esc(p.description)}}</li>`).join("");
      const content = op.requestBody ? JSON.stringify(op.requestBody.content, null, 1) : "";
      const body = content ? `<p>Body:</p><pre>${{esc(content)}}</pre>` : "";
      const codes = Object.entries(op.responses || {{}})
        .map(([c, r]) => `<li>${{esc(c)}}: ${{esc(r.description)}}</li>`).join("");
      out += `<details><summary><span class="m">${{method.toUpperCase()}}</span>`
        + `<code>${{esc(path)}}</code> ${{esc(op.summary)}}</summary><p>${{esc(op.description)}}</p>`
        + `${{params ? `<ul>${{params}}</ul>` : ""}}${{body}}<p>Responses:</p><ul>${{codes}}</ul></details>`;
    }}
  }}
  out += `<h2>Schemas</h2><pre>${{esc(JSON.stringify(spec.components?.schemas, null, 1))}}</pre>`;
  document.getElementById("ops").innerHTML = out;
}});
</script></body></html>
"""


def docs_page(title: str, schema_url: str) -> str:
    """The HTML of the docs page for the schema at `schema_url`."""
    return _PAGE.format(title=html.escape(title), schema=html.escape(schema_url, quote=True))
