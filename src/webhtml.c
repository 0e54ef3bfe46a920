/* webhtml: escaping and the page frame. Every byte that came from a
 * producer, a mail server or a request goes through webhtml_esc or
 * webhtml_url; nothing else writes such bytes into a page. The rules are in
 * SECURITY.md (the web admin). */
#include "config.h"
#include "webhtml.h"

#include <string.h>

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 when invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	size_t l = p[0] < 0x80 ? 1 : (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3
		 : (p[0] & 0xf8) == 0xf0 ? 4 : 0;
	if (!l || l > n || (l == 2 && p[0] < 0xc2))
		return 0;
	for (size_t i = 1; i < l; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if (l == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0)))
		return 0;
	if (l == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || p[0] > 0xf4 || (p[0] == 0xf4 && p[1] >= 0x90)))
		return 0;
	return l;
}

void webhtml_escn(struct util_buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	while (p < end) {
		size_t l = utf8_seq(p, (size_t)(end - p));
		if (l > 1) {
			util_buf_add(b, p, l);
			p += l;
			continue;
		}
		unsigned char c = *p++;
		if (!l) {
			util_buf_adds(b, "\xef\xbf\xbd"); /* not UTF-8 */
			continue;
		}
		switch (c) {
		case '&': util_buf_adds(b, "&amp;"); break;
		case '<': util_buf_adds(b, "&lt;"); break;
		case '>': util_buf_adds(b, "&gt;"); break;
		case '"': util_buf_adds(b, "&quot;"); break;
		case '\'': util_buf_adds(b, "&#39;"); break;
		case '\t':
		case '\n': util_buf_putc(b, (char)c); break;
		default:
			if (c < 0x20 || c == 0x7f)
				util_buf_adds(b, "\xef\xbf\xbd");
			else
				util_buf_putc(b, (char)c);
		}
	}
}

void webhtml_esc(struct util_buf *b, const char *s)
{
	if (s)
		webhtml_escn(b, s, strlen(s));
}

void webhtml_url(struct util_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("._~-", *p)) {
			util_buf_putc(b, (char)*p);
		} else {
			util_buf_putc(b, '%');
			util_buf_putc(b, hex[*p >> 4]);
			util_buf_putc(b, hex[*p & 15]);
		}
	}
}

void webhtml_time(struct util_buf *b, time_t t)
{
	char s[32];
	struct tm tm;
	if (!t) {
		util_buf_adds(b, "-");
		return;
	}
	localtime_r(&t, &tm);
	strftime(s, sizeof s, "%Y-%m-%d %H:%M", &tm);
	util_buf_adds(b, s);
}

void webhtml_csrf(struct util_buf *b, const char *csrf)
{
	util_buf_adds(b, "<input type=\"hidden\" name=\"csrf\" value=\"");
	webhtml_esc(b, csrf);
	util_buf_adds(b, "\">");
}

void webhtml_head(struct util_buf *b, const char *title, const char *user, const char *csrf)
{
	util_buf_adds(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
			 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
			 "<link rel=\"stylesheet\" href=\"/static/style.css\"><title>");
	webhtml_esc(b, title);
	util_buf_adds(b, " | msgspool</title></head><body><header><a class=\"brand\" href=\"/\">msgspool</a>");
	if (user) {
		util_buf_adds(b, "<nav><a href=\"/\">Dashboard</a><a href=\"/receivers\">Message receivers</a></nav>"
				 "<form class=\"logout\" method=\"post\" action=\"/logout\">");
		webhtml_csrf(b, csrf);
		util_buf_adds(b, "<span>");
		webhtml_esc(b, user);
		util_buf_adds(b, "</span><button type=\"submit\">Log out</button></form>");
	}
	util_buf_adds(b, "</header><main><h1>");
	webhtml_esc(b, title);
	util_buf_adds(b, "</h1>\n");
}

void webhtml_foot(struct util_buf *b)
{
	util_buf_adds(b, "</main><script src=\"/static/app.js\"></script></body></html>\n");
}

/* Select-all for the list's checkboxes: the only script, served by us (CSP
 * script-src 'self'); every page works without it. */
const char webhtml_js[] =
	"document.addEventListener('DOMContentLoaded',function(){\n"
	" var all=document.getElementById('select-all');\n"
	" if(!all)return;\n"
	" all.addEventListener('change',function(){\n"
	"  document.querySelectorAll('input[name=id]').forEach(function(c){c.checked=all.checked;});\n"
	" });\n"
	"});\n";

const char webhtml_css[] =
	"*{box-sizing:border-box}\n"
	"body{margin:0;font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#333;background:#f8f8f8}\n"
	"header{display:flex;align-items:center;gap:24px;background:#264b5d;color:#fff;padding:10px 24px}\n"
	"header a{color:#f5dd5d;text-decoration:none}\n"
	".brand{font-size:18px;font-weight:600}\n"
	"nav{display:flex;gap:16px;flex:1}\nnav a{color:#fff}\n"
	".logout{display:flex;gap:8px;align-items:center;margin:0}\n"
	".logout button{background:none;border:1px solid #fff;color:#fff;border-radius:4px;padding:2px 8px;cursor:pointer}\n"
	"main{padding:16px 24px}\nh1{font-size:20px;font-weight:400;margin:0 0 16px}\n"
	"h2{font-size:16px;margin:20px 0 8px}\n"
	"a{color:#417893}\n"
	".layout{display:flex;gap:20px;align-items:flex-start}\n.content{flex:1;min-width:0;overflow-x:auto}\n"
	"aside{flex:0 0 230px;background:#fff;border:1px solid #ddd;padding:8px 12px}\n"
	"aside h3{font-size:13px;margin:10px 0 4px;color:#666;text-transform:uppercase}\n"
	"aside ul{list-style:none;margin:0;padding:0}\naside li{padding:2px 0}\n"
	"aside li.on a{font-weight:700;color:#264b5d}\naside .n{color:#888;float:right}\n"
	"table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #ddd}\n"
	"th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #eee;vertical-align:top}\n"
	"th{background:#f0f0f0;font-weight:600;white-space:nowrap}\nth a{color:#333}\n"
	"td.num{text-align:right}\ntr:hover td{background:#f6fafc}\ntd.t{white-space:nowrap}\n"
	"td.id{font:12px/1.3 ui-monospace,monospace;word-break:break-all;min-width:150px}\n"
	".subj{max-width:320px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}\n"
	".st{display:inline-block;padding:1px 6px;border-radius:3px;font-size:12px;color:#fff;background:#888}\n"
	".st-sent{background:#3c8d40}.st-failed{background:#c77c02}.st-error{background:#b22}\n"
	".st-not_sent{background:#417893}.st-active{background:#6a5acd}.st-corrupt{background:#000}\n"
	".bar{display:flex;gap:8px;align-items:center;margin:0 0 12px;flex-wrap:wrap}\n"
	"input[type=search],input[type=text],input[type=password]{padding:5px 8px;border:1px solid #ccc;border-radius:4px}\n"
	"input[type=search]{width:320px}\n"
	"button,.button{padding:5px 12px;border:1px solid #417893;background:#417893;color:#fff;border-radius:4px;cursor:pointer;text-decoration:none}\n"
	"button.danger{background:#b22;border-color:#b22}\nbutton.plain{background:#fff;color:#417893}\n"
	".msg{padding:8px 12px;margin:0 0 12px;border-radius:4px;background:#dfd;border:1px solid #9c9}\n"
	".msg.bad{background:#fdd;border-color:#c99}\n"
	".pages{margin:12px 0;display:flex;gap:8px;align-items:center}\n"
	"dl.fields{display:grid;grid-template-columns:200px 1fr;gap:4px 12px;background:#fff;border:1px solid #ddd;padding:12px;margin:0}\n"
	"dl.fields dt{font-weight:600;color:#555}\ndl.fields dd{margin:0;word-break:break-all}\n"
	"pre{background:#fff;border:1px solid #ddd;padding:10px;overflow:auto;white-space:pre-wrap;word-break:break-word}\n"
	"pre.tr{background:#272822;color:#f8f8f2}\n"
	"iframe{width:100%;height:360px;border:1px solid #ddd;background:#fff}\n"
	".err{border-left:4px solid #b22;background:#fff;padding:8px 12px;margin:8px 0}\n"
	".cards{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:16px}\n"
	"a.card{background:#fff;border:1px solid #ddd;padding:10px 16px;min-width:120px;text-decoration:none;color:#555}\n"
	"a.card:hover{border-color:#417893}\n"
	".card b{display:block;font-size:22px;color:#264b5d}\n"
	".login{max-width:340px;margin:60px auto;background:#fff;border:1px solid #ddd;padding:20px}\n"
	".login label{display:block;margin:8px 0 2px}.login input{width:100%}\n"
	".login button{margin-top:14px;width:100%}\n"
	"svg text{font-size:11px;fill:#555}\n";
