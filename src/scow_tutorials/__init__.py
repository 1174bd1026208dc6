"""What the MkDocs hooks (overrides/hooks/), the tools (tools/) and the tests share, one module per concern:

* ``registry``: what a tutorial is (``Tutorial``, ``discover``, the build's ``load``);
* ``schema``: the card's fields; ``frontmatter``: strict YAML front matter, facts and pins; ``text``: the
  site's words in both languages; ``blocks``: shell blocks and their run markers; ``records``: GPU run records;
* ``common``: building the site and starting Chromium; ``envs``: the tutorials' Python environments
  (``python -m scow_tutorials.envs``).

Installed editable by ``make`` (``pip install -e '.[test]'``)."""
