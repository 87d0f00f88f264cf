# Copyright (c) mmkd contributors. All rights reserved.
"""README.md and docs/ agree with the repository (fast, no training).

* README.md stays short (under :data:`MAX_README_LINES` lines);
* every relative link in README.md and docs/**/*.md names an existing file;
* every command in a ```bash / ```shell block names existing repo files and
  Makefile targets, and the ``--help`` of every tool it runs works;
* README's "Layout" block names existing paths and every subpackage of
  mmkd/, mmkd/models/ and mmkd/engine/ (itself or a path inside it);
* repo paths written in backticks (``mmkd/...``, ``tools/...``, ...) exist.
"""
import glob
import os
import os.path as osp
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote

import pytest

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..'))
README = osp.join(REPO, 'README.md')
MAX_README_LINES = 250
# a path that starts like this is a file or folder of the repository
REPO_PREFIXES = ('tools/', 'configs/', 'demo/', 'tests/', 'mmkd/')
SCRIPT_SUFFIXES = ('.py', '.sh')
# the layout must name every Python package directly under these
LAYOUT_PACKAGE_ROOTS = ('mmkd', 'mmkd/models', 'mmkd/engine')
SHELL_LANGUAGES = ('bash', 'shell', 'sh')
PYTHONS = ('python', 'python3')
# words before the command proper: `time make demo`, `env X=1 python ...`
COMMAND_PREFIXES = ('time', 'env', 'exec', 'nohup')
# placeholders written in capitals (CONFIG, CKPT, STUDENT_CONFIG.py); these
# capitalised names are real files
REAL_CAPITAL_NAMES = ('README', 'LICENSE', 'MANIFEST', 'CHANGELOG')
HELP_TIMEOUT_S = 120

_FENCE = re.compile(r'^(\s*)(`{3,}|~{3,})\s*([\w+-]*)')
_LINK = re.compile(r'!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
_REF_LINK = re.compile(r'^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$', re.M)
_INLINE_CODE = re.compile(r'`([^`]+)`')
_SCHEME = re.compile(r'^[A-Za-z][A-Za-z0-9+.-]*:')
_BRACES = re.compile(r'\{([^{}]*,[^{}]*)\}')
_CAPITALS = re.compile(r'^[A-Z][A-Z0-9_]*$')
_MAKE_TARGET = re.compile(r'^([A-Za-z0-9_][A-Za-z0-9_.-]*)\s*:(?!=)', re.M)


# ------------------------------------------------------------- markdown
def markdown_files():
    """README.md and every markdown file under docs/."""
    docs = glob.glob(osp.join(REPO, 'docs', '**', '*.md'), recursive=True)
    return [README] + sorted(docs)


def rel(path):
    return osp.relpath(path, REPO).replace(os.sep, '/')


def read(path):
    with open(path, encoding='utf-8') as f:
        return f.read()


def split_markdown(text):
    """(prose, blocks): the text outside fenced code blocks, and each
    fenced block as (language, lines), its fence's indentation removed."""
    prose, blocks = [], []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            prose.append(lines[i])
            i += 1
            continue
        indent, fence, lang = match.groups()
        closing = re.compile(r'^\s*' + re.escape(fence[0]) +
                             '{%d,}\\s*$' % len(fence))
        body = []
        i += 1
        while i < len(lines) and not closing.match(lines[i]):
            line = lines[i]
            if line.startswith(indent):
                body.append(line[len(indent):])
            else:
                body.append(line.lstrip())
            i += 1
        blocks.append((lang.lower(), body))
        i += 1
    return '\n'.join(prose), blocks


def expand_braces(path):
    """``'a/{b,c}/d'`` -> ``['a/b/d', 'a/c/d']`` (several lists too)."""
    match = _BRACES.search(path)
    if match is None:
        return [path]
    head, tail = path[:match.start()], path[match.end():]
    return [
        expanded for choice in match.group(1).split(',')
        for expanded in expand_braces(head + choice + tail)
    ]


def path_exists(path):
    """Every brace expansion of ``path`` (relative to the repository)
    exists; a glob pattern must match something."""
    for each in expand_braces(path):
        full = osp.join(REPO, each)
        if any(c in each for c in '*?['):
            if not glob.glob(full):
                return False
        elif not osp.exists(full):
            return False
    return True


def is_placeholder(word):
    """CONFIG, ``${X}``, ``<method>``, ``.../`` and other stand-ins."""
    if any(mark in word for mark in ('<', '>', '$', '...')):
        return True
    for part in word.strip('/').split('/'):
        stem = part.split('.')[0]
        if _CAPITALS.match(stem) and stem not in REAL_CAPITAL_NAMES:
            return True
    return False


def looks_like_repo_path(word):
    if any(mark in word for mark in ('=', '::', '://', 'work_dirs/')):
        return False
    if any(c.isspace() for c in word):
        return False
    return word.startswith(REPO_PREFIXES) or word.endswith(SCRIPT_SUFFIXES)


# -------------------------------------------------------------- commands
def shell_lines(body):
    """The logical lines of a shell block: continuations joined, prompts
    (``$ ``) dropped, blank lines and comments left out."""
    lines, current = [], ''
    for line in body:
        line = line.rstrip()
        if line.endswith('\\'):
            current += line[:-1] + ' '
            continue
        current += line
        current = current.strip()
        if current.startswith('$ '):
            current = current[2:]
        if current and not current.startswith('#'):
            lines.append(current)
        current = ''
    return lines


def split_commands(line):
    """The simple commands of one shell line, each as its list of words
    (``&&``, ``|``, ``;`` and parentheses separate them)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = '#'
    commands, words = [], []
    for token in lexer:
        if token and all(c in lexer.punctuation_chars for c in token):
            if words:
                commands.append(words)
            words = []
        else:
            words.append(token)
    if words:
        commands.append(words)
    return commands


def strip_prefixes(words):
    """Drop ``X=1`` assignments and ``time``/``env`` before the command."""
    words = list(words)
    while words and ('=' in words[0] and not words[0].startswith('-')
                     or words[0] in COMMAND_PREFIXES):
        words.pop(0)
    return words


def doc_commands():
    """(file, line, words) of every simple command in the shell blocks of
    README.md and docs/."""
    found = []
    for path in markdown_files():
        _, blocks = split_markdown(read(path))
        for lang, body in blocks:
            if lang not in SHELL_LANGUAGES:
                continue
            for line in shell_lines(body):
                for words in split_commands(line):
                    words = strip_prefixes(words)
                    if words:
                        found.append((rel(path), line, words))
    return found


def makefile_targets():
    text = read(osp.join(REPO, 'Makefile'))
    return {t for t in _MAKE_TARGET.findall(text) if not t.startswith('.')}


def help_scripts():
    """The tools the docs run with ``python tools/X.py``."""
    scripts = set()
    for _, _, words in doc_commands():
        if len(words) > 1 and osp.basename(words[0]) in PYTHONS and \
                words[1].startswith('tools/') and words[1].endswith('.py'):
            scripts.add(words[1])
    return sorted(scripts)


HELP_SCRIPTS = help_scripts()


# ------------------------------------------------------------------ tests
def test_readme_is_short():
    with open(README, encoding='utf-8') as f:
        count = len(f.read().splitlines())
    assert count < MAX_README_LINES, (
        f'README.md has {count} lines; keep it under {MAX_README_LINES} and '
        'move the details to docs/')


def test_readme_keeps_test_command_and_versions():
    text = read(README)
    assert '### Supported versions' in text
    assert '`make test`' in text and '.ci/run' in text
    assert 'make test' in read(osp.join(REPO, '.ci', 'run'))


@pytest.mark.parametrize('path', markdown_files(), ids=rel)
def test_relative_links_exist(path):
    prose, _ = split_markdown(read(path))
    targets = _LINK.findall(prose) + _REF_LINK.findall(prose)
    broken = []
    for target in targets:
        if _SCHEME.match(target) or target.startswith('#'):
            continue
        target = unquote(target.split('#', 1)[0].split('?', 1)[0])
        if target.startswith('/'):
            full = osp.join(REPO, target.lstrip('/'))
        else:
            full = osp.join(osp.dirname(path), target)
        if not osp.exists(full):
            broken.append(target)
    assert not broken, f'{rel(path)}: links to missing files {broken}'


@pytest.mark.parametrize('path', markdown_files(), ids=rel)
def test_backticked_repo_paths_exist(path):
    prose, _ = split_markdown(read(path))
    missing = []
    for code in _INLINE_CODE.findall(prose):
        words = code.split()
        if not words:
            continue
        word = words[0]
        if not word.startswith(REPO_PREFIXES) or is_placeholder(word):
            continue
        if not path_exists(word):
            missing.append(word)
    assert not missing, f'{rel(path)}: no such repo paths {missing}'


def test_shell_blocks_name_existing_files_and_targets():
    targets = makefile_targets()
    problems = []
    for where, line, words in doc_commands():
        if words[0] == 'make':
            for word in words[1:]:
                if not word.startswith('-') and '=' not in word and \
                        word not in targets:
                    problems.append(f'{where}: `{line}`: no Makefile '
                                    f'target {word!r}')
        for word in words:
            if looks_like_repo_path(word) and not is_placeholder(word) \
                    and not path_exists(word):
                problems.append(f'{where}: `{line}`: no file {word!r}')
    assert not problems, '\n'.join(problems)


def test_docs_run_the_train_and_test_tools():
    assert 'tools/train.py' in HELP_SCRIPTS
    assert 'tools/test.py' in HELP_SCRIPTS


def _run_help(script):
    try:
        proc = subprocess.run([sys.executable, script, '--help'], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, timeout=HELP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, f'no answer within {HELP_TIMEOUT_S} s'
    return proc.returncode, proc.stdout


@pytest.fixture(scope='module')
def help_results():
    """``python tools/X.py --help`` of every tool the docs run, several at
    a time (each imports torch and the OpenMMLab stack)."""
    workers = max(1, min(4, os.cpu_count() or 1, len(HELP_SCRIPTS)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(HELP_SCRIPTS, pool.map(_run_help, HELP_SCRIPTS)))


@pytest.mark.parametrize('script', HELP_SCRIPTS)
def test_tool_help_runs(script, help_results):
    returncode, output = help_results[script]
    assert returncode == 0, (
        f'python {script} --help failed ({returncode}):\n{output[-3000:]}')
    assert 'usage' in output.lower()


# ---------------------------------------------------------------- layout
def readme_layout():
    """The path column of the fenced block after README's ``## Layout``:
    one entry per line that starts at column 0 (indented lines continue
    the description above them)."""
    text = read(README)
    assert '\n## Layout' in text, 'README.md has no "## Layout" section'
    section = text.split('\n## Layout', 1)[1]
    _, blocks = split_markdown(section)
    assert blocks, 'README.md "## Layout" has no fenced block'
    return [
        line.split()[0] for line in blocks[0][1]
        if line.strip() and not line[0].isspace()
    ]


def test_layout_paths_exist():
    paths = readme_layout()
    assert paths
    missing = [p for p in paths if not path_exists(p)]
    assert not missing, f'README "Layout" names missing paths {missing}'


def test_layout_names_every_subpackage():
    named = {
        expanded.rstrip('/')
        for path in readme_layout()
        for expanded in expand_braces(path)
    }
    packages = []
    for root in LAYOUT_PACKAGE_ROOTS:
        for entry in sorted(os.listdir(osp.join(REPO, root))):
            if osp.isfile(osp.join(REPO, root, entry, '__init__.py')):
                packages.append(f'{root}/{entry}')
    # a package is named by its own path or by a path inside it
    unnamed = [
        p for p in packages
        if p not in named and not any(n.startswith(p + '/') for n in named)
    ]
    assert not unnamed, (
        f'README "Layout" does not name the packages {unnamed}')
