"""MkDocs hooks of the astrozoo documentation site.

* ``on_config`` drops nav entries whose page is not in this checkout (the pages
  are written on several branches; the build must not depend on all of them)
  and adds a generated page for every model family of the registry that has no
  hand-written ``docs/models/<family>.md``.
* ``on_page_markdown`` replaces ``<!-- astrozoo:models -->`` (every model) and
  ``<!-- astrozoo:models family=NAME -->`` markers with a table built from
  ``astrozoo.applications.list_models()``: task, default input shape,
  parameters and forward FLOPs, so that the numbers cannot drift from the code.

Set ``ASTROZOO_DOCS_NO_FLOPS=1`` to skip the FLOPs count (it builds and traces
every model, which takes a minute on a small machine).
"""

import functools
import logging
import os
import pathlib
import re
import sys

log = logging.getLogger("mkdocs.hooks.astrozoo")

MARKER = re.compile(r"<!--\s*astrozoo:models(?:\s+family=(?P<family>[\w-]+))?\s*-->")
_GENERATED = {}  # src_uri -> markdown of generated model pages


def _nav_path(entry):
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict) and len(entry) == 1:
        value = next(iter(entry.values()))
        return value if isinstance(value, str) else None
    return None


def prune_nav(nav, docs_dir, available=()):
    """``nav`` without the ``.md`` pages missing from ``docs_dir`` (nor in ``available``); empty sections go too."""
    out = []
    for entry in nav:
        path = _nav_path(entry)
        if path is not None:
            if path.endswith(".md") and not (pathlib.Path(docs_dir) / path).is_file() and path not in available:
                log.info("astrozoo docs: %s is not in this checkout; left out of the nav", path)
                continue
            out.append(entry)
            continue
        if isinstance(entry, dict):
            (title, children), = entry.items()
            kept = prune_nav(children, docs_dir, available)
            if kept:
                out.append({title: kept})
            continue
        out.append(entry)
    return out


def _registry():
    from astrozoo.applications import list_models

    return list_models()


def count_flops(model):
    """FLOPs per example from :func:`astrozoo.applications.flops.count_flops`; ``None`` when
    the model has no graph to walk (subclassed generative models) or unknown input sizes."""
    from astrozoo.applications.flops import count_flops as library_count_flops

    try:
        return library_count_flops(model)
    except (TypeError, ValueError):
        return None


@functools.lru_cache(maxsize=None)
def model_stats(name):
    """``(parameters, flops)`` of the registered model ``name`` built with its defaults."""
    import keras

    from astrozoo.applications import get_model

    model = get_model(name).build()
    params = int(model.count_params())
    flops = None if os.environ.get("ASTROZOO_DOCS_NO_FLOPS") == "1" else count_flops(model)
    del model
    keras.backend.clear_session()
    return params, flops


def _human(n):
    if n is None:
        return "n/a"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return str(n)


def models_table(family=None):
    """Markdown table of the registered models (of one ``family``), with their references."""
    infos = [i for i in _registry() if family is None or i.family == family]
    if not infos:
        raise ValueError(f"No registered model has family {family!r}.")
    lines = [
        "| model | family | task | default input | parameters | FLOPs (forward, batch 1) |",
        "|---|---|---|---|---:|---:|",
    ]
    refs = []
    for info in infos:
        params, flops = model_stats(info.name)
        shape = "x".join(str(d) for d in info.default_input_shape)
        lines.append(
            f"| `{info.name}` | {info.family} | {info.task} | {shape} | {params:,} | {_human(flops)} |"
        )
        refs += [r for r in info.references if r not in refs]
    out = "\n".join(lines)
    if family is not None:
        descriptions = "\n".join(f"- `{i.name}`: {i.description}" for i in infos if i.description)
        out += "\n\n" + descriptions if descriptions else ""
        if refs:
            out += "\n\n**References**\n\n" + "\n".join(f"- {r}" for r in refs)
    return out + "\n"


def generated_family_page(family):
    infos = [i for i in _registry() if i.family == family]
    names = ", ".join(f"`{i.name}`" for i in infos)
    return (
        f"# {family}\n\n"
        f"Builders of the `{family}` family: {names}. This page is generated from the model "
        "registry (`astrozoo.applications.list_models()`); the builders' arguments are in the "
        "[API reference](../api/applications.md).\n\n"
        f"<!-- astrozoo:models family={family} -->\n"
    )


def on_config(config):
    docs_dir = pathlib.Path(config["docs_dir"])
    # Document the checkout being built, installed or not.
    repo = str(pathlib.Path(config.config_file_path).resolve().parent)
    if repo not in sys.path:
        sys.path.insert(0, repo)
    families = sorted({i.family for i in _registry()})
    _GENERATED.clear()
    for family in families:
        uri = f"models/{family}.md"
        if not (docs_dir / uri).is_file():
            _GENERATED[uri] = generated_family_page(family)
    nav = prune_nav(config["nav"] or [], docs_dir, available=tuple(_GENERATED))
    for section in nav:
        if isinstance(section, dict) and "Models" in section:
            listed = {_nav_path(e) for e in section["Models"]}
            section["Models"] += [{uri[len("models/") : -3]: uri} for uri in _GENERATED if uri not in listed]
    config["nav"] = nav
    return config


def on_files(files, config):
    from mkdocs.structure.files import File

    for uri, content in _GENERATED.items():
        files.append(File.generated(config, uri, content=content))
    return files


def on_page_markdown(markdown, page, config, files):
    return MARKER.sub(lambda m: models_table(m.group("family")), markdown)
