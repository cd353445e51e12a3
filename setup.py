from setuptools import find_packages, setup

with open("README.md", encoding="utf-8") as f:
    long_description = f.read()

setup(
    name="Flask-WeChat-Web",
    version="0.1.0",
    description='"Sign in with WeChat" for Flask: QR and in-WeChat login, '
    "Flask-Login integration, a sandbox and a fake WeChat for tests.",
    long_description=long_description,
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    python_requires=">=3.10",
    packages=find_packages(include=["flask_wechat_web", "flask_wechat_web.*"]),
    package_data={
        "flask_wechat_web": [
            "py.typed",
            "templates/wechat/*",
            "static/*",
            "translations/*/LC_MESSAGES/*.mo",
        ]
    },
    include_package_data=True,
    install_requires=[
        "Flask>=3.0",
        "Flask-Login>=0.6.3",
        "Authlib>=1.6.11",
        "requests>=2.32",
        "cheroot>=10.0",
        "Babel>=2.12",
    ],
    extras_require={
        "sqlalchemy": ["Flask-SQLAlchemy>=3.1"],
        "test": [
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
        ],
        "docs": ["Sphinx>=7.0", "furo>=2024.1", "sphinx-intl>=2.1"],
        "dev": [
            "ruff>=0.5",
            "mypy>=1.10",
            "types-requests>=2.31",
            "pyinstrument>=4.6",
            "matplotlib>=3.8",
        ],
    },
    entry_points={"pytest11": ["wechat_web = flask_wechat_web.testing.pytest_plugin"]},
    classifiers=[
        "Framework :: Flask",
        "Programming Language :: Python :: 3",
        "Typing :: Typed",
    ],
)
