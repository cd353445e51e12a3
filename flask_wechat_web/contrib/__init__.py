"""Sign-in with WeChat inside the frameworks sites already run.

Each module is for one framework and imports it: install the matching extra
(``Flask-WeChat-Web[appbuilder]``) and import the module only there.
"""
