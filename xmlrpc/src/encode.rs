//! Encoding to bytes exactly as ocaml-rpc (xapi's server) writes: one `Vec<u8>`, no
//! per-value allocation; `<`, `>`, `&`, `"` escaped; control characters other than tab, LF
//! and CR dropped; doubles in `%.16g` form (17 digits when 16 would not round-trip).

use std::fmt::Write as _;

use base64::Engine as _;

use crate::message::Fault;
use crate::value::Value;

/// Encoding choices. Strings are written bare (`<value>x</value>`, XAPI's form) unless
/// `string_tags` is set (`<value><string>x</string></value>`, what Python writes).
#[derive(Debug, Clone, Copy, Default)]
pub struct EncodeOptions {
    /// Wrap strings in `<string>` tags.
    pub string_tags: bool,
}

const PROLOG: &[u8] = b"<?xml version=\"1.0\"?>";

/// A `<methodCall>` document with bare strings.
pub fn encode_call(name: &str, params: &[Value]) -> Vec<u8> {
    encode_call_with(name, params, EncodeOptions::default())
}

/// A `<methodCall>` document.
pub fn encode_call_with(name: &str, params: &[Value], opts: EncodeOptions) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(PROLOG);
    out.extend_from_slice(b"<methodCall><methodName>");
    escape_into(&mut out, name);
    out.extend_from_slice(b"</methodName><params>");
    for p in params {
        out.extend_from_slice(b"<param>");
        encode_value(p, opts, &mut out);
        out.extend_from_slice(b"</param>");
    }
    out.extend_from_slice(b"</params></methodCall>");
    out
}

/// A successful `<methodResponse>` document with bare strings.
pub fn encode_response(value: &Value) -> Vec<u8> {
    encode_response_with(value, EncodeOptions::default())
}

/// A successful `<methodResponse>` document.
pub fn encode_response_with(value: &Value, opts: EncodeOptions) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(PROLOG);
    out.extend_from_slice(b"<methodResponse><params><param>");
    encode_value(value, opts, &mut out);
    out.extend_from_slice(b"</param></params></methodResponse>");
    out
}

/// A `<methodResponse>` holding a `<fault>`.
pub fn encode_fault(fault: &Fault) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(PROLOG);
    out.extend_from_slice(
        b"<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>",
    );
    out.extend_from_slice(itoa::Buffer::new().format(fault.code).as_bytes());
    out.extend_from_slice(
        b"</int></value></member><member><name>faultString</name><value><string>",
    );
    escape_into(&mut out, &fault.string);
    out.extend_from_slice(b"</string></value></member></struct></value></fault></methodResponse>");
    out
}

/// Appends `<value>…</value>` for `value` to `out`.
pub fn encode_value(value: &Value, opts: EncodeOptions, out: &mut Vec<u8>) {
    out.extend_from_slice(b"<value>");
    match value {
        Value::String(s) => {
            if opts.string_tags {
                out.extend_from_slice(b"<string>");
                escape_into(out, s);
                out.extend_from_slice(b"</string>");
            } else {
                escape_into(out, s);
            }
        }
        Value::Int(i) => {
            out.extend_from_slice(b"<int>");
            out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes());
            out.extend_from_slice(b"</int>");
        }
        Value::I8(i) => {
            out.extend_from_slice(b"<i8>");
            out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes());
            out.extend_from_slice(b"</i8>");
        }
        Value::Bool(b) => out.extend_from_slice(if *b {
            b"<boolean>1</boolean>"
        } else {
            b"<boolean>0</boolean>"
        }),
        Value::Double(d) => {
            out.extend_from_slice(b"<double>");
            write_double(out, *d);
            out.extend_from_slice(b"</double>");
        }
        Value::DateTime(dt) => {
            out.extend_from_slice(b"<dateTime.iso8601>");
            dt.write_to(out);
            out.extend_from_slice(b"</dateTime.iso8601>");
        }
        Value::Base64(bytes) => {
            out.extend_from_slice(b"<base64>");
            let start = out.len();
            out.resize(start + bytes.len().div_ceil(3) * 4, 0);
            let written = base64::engine::general_purpose::STANDARD
                .encode_slice(bytes, &mut out[start..])
                .unwrap_or(0);
            out.truncate(start + written);
            out.extend_from_slice(b"</base64>");
        }
        Value::Struct(s) => {
            out.extend_from_slice(b"<struct>");
            for (name, v) in s.iter() {
                out.extend_from_slice(b"<member><name>");
                escape_into(out, name);
                out.extend_from_slice(b"</name>");
                encode_value(v, opts, out);
                out.extend_from_slice(b"</member>");
            }
            out.extend_from_slice(b"</struct>");
        }
        Value::Array(items) => {
            out.extend_from_slice(b"<array><data>");
            for v in items {
                encode_value(v, opts, out);
            }
            out.extend_from_slice(b"</data></array>");
        }
        Value::Nil => out.extend_from_slice(b"<nil/>"),
    }
    out.extend_from_slice(b"</value>");
}

/// Per byte: 0 = copy, 1 = drop (control character), 2 = escape.
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = 1;
        i += 1;
    }
    t[b'\t' as usize] = 0;
    t[b'\n' as usize] = 0;
    t[b'\r' as usize] = 0;
    t[b'<' as usize] = 2;
    t[b'>' as usize] = 2;
    t[b'&' as usize] = 2;
    t[b'"' as usize] = 2;
    t
};

/// Appends `s` as XML character data the way ocaml-rpc's `encode_buf` does.
fn escape_into(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut copied = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let class = CLASS[b as usize];
        if class == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[copied..i]);
        copied = i + 1;
        if class == 2 {
            out.extend_from_slice(match b {
                b'<' => b"&lt;",
                b'>' => b"&gt;",
                b'&' => b"&amp;",
                _ => b"&quot;",
            });
        }
    }
    out.extend_from_slice(&bytes[copied..]);
}

/// A fixed buffer for number formatting, so no allocation happens.
struct StackBuf {
    buf: [u8; 64],
    len: usize,
}

impl StackBuf {
    fn new() -> Self {
        StackBuf {
            buf: [0; 64],
            len: 0,
        }
    }
    fn as_str(&self) -> &str {
        // Only `fmt::Write::write_str` fills the buffer, always with whole `str`s.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl std::fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// `%.16g` as C / OCaml print it, or `%.17g` when 16 digits would not read back as `d`.
fn write_double(out: &mut Vec<u8>, d: f64) {
    if d.is_nan() {
        out.extend_from_slice(b"nan");
        return;
    }
    if d.is_infinite() {
        out.extend_from_slice(if d > 0.0 { b"inf" } else { b"-inf" });
        return;
    }
    let mut buf = StackBuf::new();
    format_g(&mut buf, d, 16);
    if buf.as_str().parse::<f64>().ok() != Some(d) {
        buf = StackBuf::new();
        format_g(&mut buf, d, 17);
    }
    out.extend_from_slice(buf.as_str().as_bytes());
}

/// C's `%.{precision}g` for a finite `d`.
fn format_g(buf: &mut StackBuf, d: f64, precision: usize) {
    let mut sci = StackBuf::new();
    // Never fails: at most 1 + 1 + precision + 5 bytes.
    let _ = write!(sci, "{:.*e}", precision - 1, d);
    let s = sci.as_str();
    let (mantissa, exp) = s.split_once('e').unwrap_or((s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= precision as i32 {
        let _ = buf.write_str(strip_zeros(mantissa));
        let _ = write!(
            buf,
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        );
    } else {
        let decimals = (precision as i32 - 1 - exp) as usize;
        let mut fixed = StackBuf::new();
        let _ = write!(fixed, "{:.*}", decimals, d);
        let _ = buf.write_str(strip_zeros(fixed.as_str()));
    }
}

/// Drops trailing fractional zeros and a trailing '.', as `%g` does.
fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(d: f64) -> String {
        let mut out = Vec::new();
        write_double(&mut out, d);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn doubles_print_like_percent_16g() {
        assert_eq!(g(0.0), "0");
        assert_eq!(g(-0.0), "-0");
        assert_eq!(g(1.5), "1.5");
        assert_eq!(g(100.0), "100");
        assert_eq!(g(1e16), "1e+16");
        assert_eq!(g(1e15), "1000000000000000");
        assert_eq!(g(0.0001), "0.0001");
        assert_eq!(g(0.00001), "1e-05");
        assert_eq!(g(1.0 / 3.0), "0.3333333333333333");
        // 16 digits are not enough for 0.1 + 0.2; the 17-digit form reads back exactly.
        assert_eq!(g(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(g(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(g(f64::NAN), "nan");
        assert_eq!(g(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn escapes_like_ocaml_rpc() {
        let mut out = Vec::new();
        escape_into(&mut out, "a<b>&\"c'\u{1}\t\n\r\u{7f}é");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a&lt;b&gt;&amp;&quot;c'\t\n\r\u{7f}é"
        );
    }

    #[test]
    fn encodes_every_type() {
        let v = Value::Array(vec![
            Value::Int(-3),
            Value::I8(1 << 40),
            Value::Bool(true),
            "x&y".into(),
            Value::Double(2.5),
            Value::Base64(b"hi!".to_vec()),
            Value::Nil,
        ]);
        let mut out = Vec::new();
        encode_value(&v, EncodeOptions::default(), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<value><array><data><value><int>-3</int></value><value><i8>1099511627776</i8></value>\
             <value><boolean>1</boolean></value><value>x&amp;y</value><value><double>2.5</double></value>\
             <value><base64>aGkh</base64></value><value><nil/></value></data></array></value>"
        );
    }
}
