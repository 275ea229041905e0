"""Sphinx configuration of npext's documentation (`tox -e docs`).

Sphinx, because it is what the scientific Python ecosystem documents itself
with (NumPy, SciPy, PyTorch, Hypothesis, pandas): autodoc reads the docstrings
npext already has, napoleon reads their Google/NumPy sections, MyST-Parser
keeps the narrative pages in Markdown (the README's dialect, so the tables'
generators write into them unchanged), and pydata-sphinx-theme is the theme
NumPy, SciPy and PyTorch use.

`tox -e docs` builds with ``-W --keep-going -n``: every warning is an error,
broken cross-references included. Two checks of this file add to that (both
warn, so both fail the build):

* every name in ``npext.__all__`` and ``npext.testing.__all__`` has an entry in
  the API reference (``api.rst``);
* every one of those entries carries a docstring (for a constant, the ``#:``
  comment above it where it is defined).

The build reads nothing from the network (no intersphinx): names from torch,
NumPy, Hypothesis and the standard library in signatures are left unlinked
(``nitpick_ignore_regex``); a reference to a name of npext that does not exist
still fails.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging

ROOT = Path(__file__).resolve().parent.parent
# The checkout's source, also where another npext is installed (tox -e docs
# installs npext for its dependencies).
sys.path.insert(0, str(ROOT / "src"))

import npext  # noqa: E402

project = "npext"
author = "npext's authors"
copyright = "npext's authors, BSD-3-Clause"
release = version = npext.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# Markdown pages: headings get anchors down to ###, so [text](page.md#a-heading)
# is checked like any other reference; $...$ stays literal text.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "deflist"]

# autodoc: members in source order, signatures without type hints (the
# docstrings say what each argument is), nothing imported from elsewhere.
autodoc_member_order = "bysource"
autodoc_typehints = "none"
autodoc_preserve_defaults = True  # `properties=PROPERTIES`, not the whole tuple
autodoc_default_options = {"members": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = True
# FunctionUnderTest lists its fields in two sections of this name
napoleon_custom_sections = [("Required fields", "params_style"), ("Optional fields", "params_style")]

# Every warning fails the build (tox -e docs: -W --keep-going -n).  What
# nitpicky mode could never resolve offline: names of other projects.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(torch|numpy|np|scipy|hypothesis|pytest|typing|collections|dataclasses)(\..*)?"),
    (r"py:.*", r"(Any|Callable|Mapping|Sequence|Iterable|Tensor|optional|callable)"),
    (r"py:class", r"(int|float|bool|str|tuple|list|dict|object|type|None)"),
]

html_theme = "pydata_sphinx_theme"
html_title = f"npext {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "header_links_before_dropdown": 3,
    "navbar_persistent": ["search-button"],  # an icon: the page titles need the top bar's width
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
# The pages are one level deep: the top bar lists them, and a left sidebar
# (which shows a page's subpages) would stay empty.
html_sidebars = {"**": []}
html_static_path = ["_static"]
html_css_files = ["npext.css"]
html_show_sourcelink = False

# ---------------------------------------------------------------- the public names' entries and docstrings

PUBLIC_MODULES = ("npext", "npext.ops", "npext.testing")
logger = logging.getLogger("npext.docs")
_PUBLIC: set[str] = set()  # the public names, fully qualified
_COMMENTS: dict = {}  # _attribute_comments()


def public_names() -> list[str]:
    """Every name of the public modules' ``__all__``, fully qualified."""
    names = []
    for modname in PUBLIC_MODULES:
        module = importlib.import_module(modname)
        names += [f"{modname}.{name}" for name in module.__all__]
    return names


def _attribute_comments() -> dict[str, list[tuple[object, list[str]]]]:
    """The ``#:`` comments of npext's module-level constants: by name, each with the value it documents."""
    comments = {}
    for modname in ["npext", *(info.name for info in pkgutil.walk_packages(npext.__path__, "npext."))]:
        module = importlib.import_module(modname)
        for (scope, attr), lines in ModuleAnalyzer.for_module(modname).find_attr_docs().items():
            if not scope and hasattr(module, attr) and any(line.strip() for line in lines):
                comments.setdefault(attr, []).append((getattr(module, attr), list(lines)))
    return comments


def fill_constant_docstrings(app, what, name, obj, options, lines):
    """A constant's docstring: the ``#:`` comment above it where it is defined.

    autodoc reads ``#:`` comments only in the module it documents (and
    ``npext.testing`` imports its constants from the modules that define
    them); without one it shows the docstring of the constant's type (``int``,
    ``tuple``), which documents nothing. Runs after napoleon, which would read
    a comment's first colon as a type. Whatever the source, each public
    name's docstring is recorded for ``check_public_names``.
    """
    if what == "data":
        found = [doc for value, doc in _COMMENTS.get(name.rpartition(".")[2], []) if value is obj]
        lines[:] = found[0] if found else []
    if name in _PUBLIC:
        app.env.npext_documented[name] = any(line.strip() for line in lines)


def setup_public_names(app):
    _PUBLIC.update(public_names())
    _COMMENTS.update(_attribute_comments())
    if not hasattr(app.env, "npext_documented"):
        app.env.npext_documented = {}


def check_public_names(app, env):
    """Warn (and so fail the build) for a public name without an API entry or without a docstring."""
    objects = env.domains["py"].objects
    for name in public_names():
        if name not in objects:
            logger.warning("%s is public (in __all__) but has no entry in the API reference (docs/api.rst)", name)
        elif not env.npext_documented.get(name):
            logger.warning("%s is public (in __all__) but has no docstring", name)


def function_signature(app, what, name, obj, options, signature, return_annotation):
    """Signatures as a reader writes them.

    No signature for an autograd.Function: its constructor's ``(*args,
    **kwargs)`` is never called (the API page says how to call ``apply``).
    The default tolerance by its name, not its repr: a dataclass's generated
    ``__init__`` has no source for ``autodoc_preserve_defaults`` to read.
    """
    import torch

    from npext.testing import default_tolerance

    if what == "class" and isinstance(obj, type) and issubclass(obj, torch.autograd.Function):
        return "", None
    if signature and repr(default_tolerance) in signature:
        return signature.replace(repr(default_tolerance), "default_tolerance"), return_annotation
    return None


def setup(app):
    app.connect("autodoc-process-signature", function_signature)
    app.connect("builder-inited", setup_public_names)
    app.connect("autodoc-process-docstring", fill_constant_docstrings, priority=600)  # after napoleon
    app.connect("env-check-consistency", check_public_names)
