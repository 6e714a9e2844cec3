"""Sphinx configuration: the API reference from the docstrings, the pages in Markdown.

Built in CI with warnings as errors (``tests/test_docs.py``), so a broken docstring or
link fails the build: ``python -m sphinx -W -b html docs docs/_build``.
"""

from dimfeaturizer import __version__

project = "dimfeaturizer"
author = "the dimfeaturizer developers"
release = version = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # the numpydoc sections of the docstrings
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "benchmarks/**/donors"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False

myst_heading_anchors = 3
# result pages written by the benchmark commands jump from a title to table headings
suppress_warnings = ["myst.header"]
nitpicky = False

html_theme = "alabaster"
html_title = f"dimfeaturizer {version}"
