/* Flask-WeChat-Web's imitation of WeChat's wxLogin.js, served by the fake WeChat.
 *
 * Same call and same iframe as the real script (new WxLogin({id, appid, scope,
 * redirect_uri, state, self_redirect, style, href})), but the frame loads the
 * fake's qrconnect page from wherever this script itself was loaded, so it
 * works under any mount prefix. redirect_uri is passed through as given: the
 * caller URL-encodes it, as with the real script.
 */
(function () {
  "use strict";
  var SUFFIX = "/connect/zh_CN/htmledition/js/wxLogin.js";

  function ownSource() {
    if (document.currentScript && document.currentScript.src) {
      return document.currentScript.src;
    }
    var scripts = document.getElementsByTagName("script");
    for (var i = scripts.length - 1; i >= 0; i--) {
      if ((scripts[i].src || "").indexOf(SUFFIX) !== -1) {
        return scripts[i].src;
      }
    }
    return "";
  }

  // Read now: document.currentScript is only set while this script runs.
  var source = ownSource();
  var base = source.indexOf(SUFFIX) !== -1 ? source.slice(0, source.indexOf(SUFFIX)) : "";

  window.WxLogin = function (opts) {
    var selfRedirect = "default";
    if (opts.self_redirect === true) {
      selfRedirect = "true";
    } else if (opts.self_redirect === false) {
      selfRedirect = "false";
    }
    var src = base + "/connect/qrconnect?appid=" + opts.appid +
      "&scope=" + opts.scope +
      "&redirect_uri=" + opts.redirect_uri +
      "&state=" + (opts.state === undefined ? "" : opts.state) +
      "&login_type=jssdk&self_redirect=" + selfRedirect;
    if (opts.style) {
      src += "&style=" + opts.style;
    }
    if (opts.href) {
      src += "&href=" + opts.href;
    }
    var frame = document.createElement("iframe");
    frame.src = src;
    frame.frameBorder = "0";
    frame.allowTransparency = "true";
    frame.scrolling = "no";
    frame.width = "300px";
    frame.height = "400px";
    var container = document.getElementById(opts.id);
    container.innerHTML = "";
    container.appendChild(frame);
  };
})();
