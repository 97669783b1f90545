"""Sphinx configuration of descent's documentation site (``make docs``: ``docs/_build/html/index.html``).

The pages are the Markdown files of ``docs/`` (read by MyST) and an API reference generated here, at build
time, from the package itself: one page per public module (no ``_`` in its dotted name; the command line is
documented by ``descent --help``), written into ``docs/api/`` (git-ignored), so a module added later is
documented without editing anything. Docstrings are reStructuredText (``.. math::``, ``:func:`...```,
``>>>`` examples).

The build is strict (``sphinx-build -W -n``, see the Makefile): a reference that resolves to nothing, and a
public module, class, function or method without a docstring, are errors. References to other libraries
(torch, NumPy, ...) are left unresolved on purpose (no network for intersphinx): see ``nitpick_ignore_regex``.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import pkgutil
import sys
import tempfile
import typing
from pathlib import Path

from sphinx import addnodes
from sphinx.util import logging

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))  # the source tree, also when descent is not installed

import descent  # noqa: E402

project = "descent"
author = "the descent authors"
release = version = descent.__version__
copyright = "the descent authors, MIT licence"

extensions = ["sphinx.ext.autodoc", "sphinx.ext.mathjax", "sphinx.ext.viewcode", "myst_parser"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "img/*.md"]
myst_heading_anchors = 3
html_theme = "alabaster"
html_title = f"descent {release}"
html_theme_options = {"description": "Training Neural Networks II, as a library and a lab", "fixed_sidebar": True}

autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True,
                           "member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_inherit_docstrings = False  # a method without its own docstring is reported, not given torch's
autodoc_preserve_defaults = True
add_module_names = False

# other libraries' names (no network: no intersphinx inventories) and typing's spellings are not ours to resolve
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(torch|numpy|np|nn|optuna|matplotlib|typing|collections|argparse|dataclasses|pathlib|os|"
               r"contextlib|enum|abc|types|functools|concurrent|multiprocessing|threading|io|json|csv)(\..*)?"),
    (r"py:.*", r"(Tensor|Path|Any|Callable|Iterable|Iterator|Sequence|Mapping|Module|Optimizer|Parameter|"
               r"ndarray|Figure|Axes|TextIO|BinaryIO|IO|Namespace|NoneType|ellipsis|Self|Generator|"
               r"LRScheduler|Trial|Study|Generic|Protocol|T|P)"),
    (r"py:.*", r"descent\.(.*\.)?_\w+(\..*)?"),  # a private part named in a public signature (base classes)
]

API = HERE / "api"
WHAT_NEEDS_A_DOCSTRING = {"module", "class", "exception", "function", "method", "classmethod", "staticmethod"}
log = logging.getLogger("descent.docs")


def public_modules() -> list[str]:
    """Every importable module of descent whose dotted name has no private part, the command line excepted."""
    names = ["descent"]
    for info in pkgutil.walk_packages(descent.__path__, "descent."):
        parts = info.name.split(".")
        if not any(p.startswith("_") for p in parts) and parts[1] != "cli":
            names.append(info.name)
    return sorted(names)


def _is_package(name: str) -> bool:
    return hasattr(importlib.import_module(name), "__path__")


def _private_exports(name: str) -> list[str]:
    """The names a package exports (``__all__``) that are defined in a private module or in itself: only
    its page documents them (a name defined in a public module is documented on that module's page)."""
    module = importlib.import_module(name)
    out = []
    for attr in getattr(module, "__all__", []):
        home = getattr(getattr(module, attr, None), "__module__", None) or name
        if home == name or any(p.startswith("_") for p in home.split(".")):
            out.append(attr)
    return out


def module_page(name: str, children: list[str]) -> str:
    """The reStructuredText of ``name``'s page: the module's docstring, its members, its submodules."""
    lines = [name, "=" * len(name), "", f".. automodule:: {name}"]
    if _is_package(name):
        exports = [a for a in _private_exports(name) if inspect.isclass(getattr(importlib.import_module(name), a))
                   or callable(getattr(importlib.import_module(name), a))]
        lines += [f"   :members: {', '.join(exports)}" if exports else "   :no-members:"]
    if children:
        lines += ["", ".. toctree::", "   :maxdepth: 1", ""] + [f"   {c}" for c in children]
    return "\n".join(lines) + "\n"


def write_api_pages(app=None) -> None:
    """``docs/api/<module>.rst`` for every public module, and the API index; files rewritten only when
    their text changes (atomically, so two builds at once do not read half a file), stale pages removed."""
    modules = public_modules()
    pages = {"index": "API reference\n=============\n\n.. toctree::\n   :maxdepth: 2\n\n   descent\n"}
    for name in modules:
        children = [m for m in modules if m.rpartition(".")[0] == name]
        pages[name] = module_page(name, children)
    API.mkdir(exist_ok=True)
    for stale in API.glob("*.rst"):
        if stale.stem not in pages:
            stale.unlink(missing_ok=True)
    for stem, text in pages.items():
        path = API / f"{stem}.rst"
        if path.exists() and path.read_text() == text:
            continue
        fd, tmp = tempfile.mkstemp(dir=API, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)


def _defined_here(name: str, obj) -> bool:
    """Whether ``obj``, documented as ``name``, is defined there (autodoc also reports a module's imports)."""
    if inspect.ismodule(obj):
        return obj.__name__ == name
    home = getattr(obj, "__module__", None)
    return home is None or name == f"{home}.{getattr(obj, '__qualname__', name.rpartition('.')[2])}"


def _documented_above(obj, name: str) -> bool:
    """Whether a method overrides one that a base class documents (``forward``, a callback's hooks...)."""
    owner_name, _, attr = name.rpartition(".")
    owner = _find(owner_name)
    return inspect.isclass(owner) and any(inspect.getdoc(getattr(base, attr, None)) for base in owner.__mro__[1:]
                                          if attr in vars(base))


def require_docstring(app, what, name, obj, options, lines) -> None:
    """A public name documented without a docstring is an error of the (strict) build."""
    if what not in WHAT_NEEDS_A_DOCSTRING or any(line.strip() for line in lines):
        return
    if any(part.startswith("_") for part in name.split(".")) or not _defined_here(name, obj):
        return
    if what.endswith("method") and _documented_above(obj, name):
        return
    log.warning(f"public {what} {name} has no docstring", type="descent", subtype="docstring")


def _find(dotted: str):
    """The object Python finds at ``dotted`` (a descent module, then attributes), or None."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        if parts[0] != "descent":
            return None
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr, None)
            if obj is None:
                return None
        return obj
    return None


def resolve_as_python_does(app, env, node, contnode):
    """A reference Sphinx cannot find by its documented name, resolved as Python resolves the name in the
    module (and class) it is written in: ``:class:`LRSchedule``` in ``descent.schedules`` is the re-exported
    ``descent.schedules.adapter.LRSchedule``; a module-level value links to its module's page. A private
    name in a signature (a base class's type) stays plain text; anywhere else it is still a broken reference."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip(".~")
    scopes = [s for s in (".".join(filter(None, (node.get("py:module"), node.get("py:class")))),
                          node.get("py:module"), "") if s is not None]
    for scope in dict.fromkeys(scopes):
        dotted = f"{scope}.{target}" if scope else target
        obj = _find(dotted)
        if obj is None:
            continue
        if isinstance(obj, typing.TypeVar):
            return contnode
        if inspect.ismodule(obj):
            home = obj.__name__
        elif hasattr(obj, "__qualname__") and hasattr(obj, "__module__"):
            home = f"{obj.__module__}.{obj.__qualname__}"
        else:  # a value: its module's page
            home = dotted.rpartition(".")[0]
        if any(part.startswith("_") for part in home.split(".")):
            return contnode if _in_signature(node) else None
        py = env.get_domain("py")
        for name in (home, home.rpartition(".")[0] if not inspect.ismodule(obj) and home != dotted else None):
            if name and name in py.objects:
                return py.resolve_xref(env, node["refdoc"], app.builder, "obj", name, node, contnode)
            if name and name in py.modules:
                return py.resolve_xref(env, node["refdoc"], app.builder, "mod", name, node, contnode)
    return None


def show_default_factories(app, what, name, obj, options, signature, return_annotation):
    """A dataclass field's ``default_factory`` shown as its call (``hyper: dict[str, Any] = dict()``): Python
    writes ``<factory>``, which is not an expression, so Sphinx cannot parse the signature and splits it at
    every comma (``dict[str`` then becomes a broken reference)."""
    if what != "class" or not signature or "<factory>" not in signature or not dataclasses.is_dataclass(obj):
        return None
    for f in dataclasses.fields(obj):
        if f.init and f.default_factory is not dataclasses.MISSING:
            call = getattr(f.default_factory, "__qualname__", "")
            signature = signature.replace("<factory>", f"{call}()" if call.isidentifier() else "...", 1)
    return signature, return_annotation


def _in_signature(node) -> bool:
    while node is not None:
        if isinstance(node, addnodes.desc_signature):
            return True
        node = node.parent
    return False


def setup(app) -> dict:
    app.connect("builder-inited", write_api_pages)
    app.connect("autodoc-process-docstring", require_docstring)
    app.connect("missing-reference", resolve_as_python_does)
    app.connect("autodoc-process-signature", show_default_factories)
    return {"parallel_read_safe": True}
