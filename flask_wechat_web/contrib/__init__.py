"""Logging in with WeChat inside the frameworks sites already run (SPEC §9.3).

Each module is for one framework and imports it: install the matching extra
(``Flask-WeChat-Web[flask-security]``, ``Flask-WeChat-Web[appbuilder]``) and
import the module only there.
"""
