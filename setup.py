import re
from pathlib import Path

from setuptools import find_namespace_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(
    r'^__version__ = "(.+)"$', (HERE / "flask_wechat_web" / "__init__.py").read_text(), re.M
)[1]
DOCS = "https://flask-wechat-web.readthedocs.io/en/latest/"
SOURCE = "https://github.com/flask-wechat-web/flask-wechat-web"

#: What FakeWeChatServer (the fake over real HTTP) needs.
TESTING = ["cheroot>=10.0.1"]
#: flask_wechat_web.contrib.appbuilder: 5.0 is the first on Flask 3 and Flask-SQLAlchemy 3.1.
APPBUILDER = ["Flask-AppBuilder>=5.0"]

setup(
    name="Flask-WeChat-Web",
    version=VERSION,
    description='"Sign in with WeChat" for Flask: QR and in-WeChat login, '
    "Flask-Login integration, a sandbox and a fake WeChat for tests.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    author="Flask-WeChat-Web contributors",
    license_expression="BSD-3-Clause",
    license_files=["LICENSE"],
    url=DOCS,
    project_urls={
        "Documentation": DOCS,
        "Changes": DOCS + "changes/",
        "Source": SOURCE,
        "Issue Tracker": SOURCE + "/issues",
    },
    python_requires=">=3.10",
    # Namespace discovery also finds the data directories (templates, static,
    # translations, ...), so each ships with what MANIFEST.in grafts.
    packages=find_namespace_packages(include=["flask_wechat_web", "flask_wechat_web.*"]),
    include_package_data=True,
    install_requires=[
        "Flask>=3.0",
        "Flask-Login>=0.6.3",
        "Authlib>=1.6.11",
        "requests>=2.32",
        "Babel>=2.12",
        # The Public Suffix List, shipped with the package (no fetch at run
        # time): a relay pattern may not stand over a public suffix.
        "publicsuffixlist>=1.0.2",
        # WECHAT_WEB_STORE: what stays on the server (revoked tokens, session keys).
        "cachelib>=0.9.0",
        # The Official Account's push: its safe mode's AES, its XML without entities.
        "cryptography>=42.0",
        "defusedxml>=0.7.1",
        # The follow sign-in's QR code, drawn by the page from WeChat's url.
        "segno>=1.5",
    ],
    extras_require={
        "sqlalchemy": ["Flask-SQLAlchemy>=3.1"],
        # flask_wechat_web.contrib.flask_security: its FsOAuthProvider and
        # oauth_response_failure(error_view, e) (5.8, with the OAuth verify views).
        "flask-security": ["Flask-Security-Too>=5.8"],
        # What example/ imports, and nothing more: ./run.sh example installs it.
        "example": ["Flask-SQLAlchemy>=3.1", "Flask-Babel>=4.0"],
        "testing": TESTING,
        "appbuilder": APPBUILDER,
        "test": [
            *TESTING,
            "pytest>=8.0",
            "hypothesis>=6.100",
            "Flask-SQLAlchemy>=3.1",
            "psycopg[binary]>=3.1",
            "playwright>=1.45",
            "gunicorn>=22.0",
            "trustme>=1.1",
            "Flask-Babel>=4.0",
            "Flask-Session>=0.7",
            "Flask-WTF>=1.2.1",
            "redis>=5.0",
            "wechatpy>=1.8",
            "social-auth-core>=6.0",
            # docs/api-tokens.rst's recipe, run by tests/test_apps.py.
            "Flask-JWT-Extended>=4.6",
            # tests/test_conventions.py reads the workflows and configs.
            "PyYAML>=6.0.2",
            *APPBUILDER,
            # tests/test_contrib_flask_security.py: a real Flask-Security site.
            "Flask-Security-Too>=5.8",
        ],
        "docs": ["Sphinx>=7.0", "furo>=2024.1", "sphinx-intl>=2.1"],
        "dev": [
            "ruff>=0.5",
            "mypy>=1.10",
            # The layers and no import circle (pyproject.toml's contracts).
            "import-linter>=2.17; python_version >= '3.11'",
            "types-requests>=2.31",
            "types-defusedxml>=0.7",
            "pyinstrument>=4.6",
            "matplotlib>=3.8",
            "build>=1.2",
            "twine>=6.1",
            # scripts/lint-ci.sh: the workflows' security audits and the CI
            # files' schemas, offline; the hooks of .pre-commit-config.yaml.
            "zizmor>=1.33",
            "check-jsonschema>=0.39",
            "pre-commit>=4.0",
        ],
    },
    entry_points={"pytest11": ["wechat_web = flask_wechat_web.testing.pytest_plugin"]},
    classifiers=[
        "Development Status :: 4 - Beta",
        "Environment :: Web Environment",
        "Framework :: Flask",
        "Framework :: Pytest",
        "Intended Audience :: Developers",
        "Operating System :: OS Independent",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Topic :: Internet :: WWW/HTTP :: Dynamic Content",
        "Topic :: Internet :: WWW/HTTP :: Session",
        "Topic :: Software Development :: Libraries :: Python Modules",
        "Topic :: System :: Systems Administration :: Authentication/Directory",
        "Typing :: Typed",
    ],
)
