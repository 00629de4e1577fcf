//! Turns rule text into tokens carrying their line and column, for precise errors.

use crate::error::{Pos, RuleError, RuleErrorKind};
use crate::limits::{MAX_SOURCE_LEN, MAX_STRING_LEN};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Num(f64),
    Str(String),
    /// A dotted name such as `trader.id`; keywords are recognised by the parser.
    Ident(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Colon,
    Plus,
    Minus,
    Star,
    Slash,
    Lt,
    Le,
    Gt,
    Ge,
    EqEq,
    Ne,
    Eof,
}

#[derive(Debug, Clone)]
pub(crate) struct Token<'a> {
    pub tok: Tok,
    pub pos: Pos,
    /// The source text of the token, quoted in "found ..." messages.
    pub text: &'a str,
}

impl Token<'_> {
    pub fn describe(&self) -> String {
        match self.tok {
            Tok::Eof => "end of input".to_owned(),
            _ => format!("`{}`", self.text),
        }
    }
}

struct Cursor<'a> {
    src: &'a str,
    at: usize,
    line: u32,
    column: u32,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.src[self.at..].chars().next()
    }

    fn peek2(&self) -> Option<char> {
        self.src[self.at..].chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn pos(&self) -> Pos {
        Pos { line: self.line, column: self.column }
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

pub(crate) fn lex(src: &str) -> Result<Vec<Token<'_>>, RuleError> {
    let mut cur = Cursor { src, at: 0, line: 1, column: 1 };
    if src.len() > MAX_SOURCE_LEN {
        // Point at the first character past the limit.
        while cur.at < MAX_SOURCE_LEN {
            cur.bump();
        }
        return Err(RuleError::new(
            RuleErrorKind::Limit,
            cur.pos(),
            format!("rule text is {} bytes long; the limit is {MAX_SOURCE_LEN} bytes", src.len()),
        ));
    }
    let mut out = Vec::new();
    loop {
        while let Some(c) = cur.peek() {
            if c.is_whitespace() {
                cur.bump();
            } else if c == '#' {
                while cur.peek().is_some_and(|c| c != '\n') {
                    cur.bump();
                }
            } else {
                break;
            }
        }
        let pos = cur.pos();
        let start = cur.at;
        let Some(c) = cur.bump() else {
            out.push(Token { tok: Tok::Eof, pos, text: "" });
            return Ok(out);
        };
        let tok = match c {
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '[' => Tok::LBracket,
            ']' => Tok::RBracket,
            ',' => Tok::Comma,
            ':' => Tok::Colon,
            '+' => Tok::Plus,
            '-' => Tok::Minus,
            '*' => Tok::Star,
            '/' => Tok::Slash,
            '<' | '>' | '=' | '!' => {
                let eq = cur.peek() == Some('=');
                if eq {
                    cur.bump();
                }
                match (c, eq) {
                    ('<', false) => Tok::Lt,
                    ('<', true) => Tok::Le,
                    ('>', false) => Tok::Gt,
                    ('>', true) => Tok::Ge,
                    ('=', true) => Tok::EqEq,
                    ('!', true) => Tok::Ne,
                    ('=', false) => return Err(syntax(pos, "unexpected `=`; use `==` to compare")),
                    _ => {
                        return Err(syntax(pos, "unexpected `!`; use `not` or `!=`"));
                    }
                }
            }
            '"' => Tok::Str(lex_string(&mut cur, pos)?),
            c if c.is_ascii_digit() => lex_number(&mut cur, start, pos)?,
            c if is_ident_start(c) => {
                loop {
                    while cur.peek().is_some_and(is_ident_char) {
                        cur.bump();
                    }
                    // A dot continues the name only when a name segment follows,
                    // so `a.` is reported at the dot instead of swallowed.
                    if cur.peek() == Some('.') && cur.peek2().is_some_and(is_ident_start) {
                        cur.bump();
                    } else {
                        break;
                    }
                }
                Tok::Ident(src[start..cur.at].to_owned())
            }
            other => return Err(syntax(pos, format!("unexpected character `{other}`"))),
        };
        out.push(Token { tok, pos, text: &src[start..cur.at] });
    }
}

fn syntax(pos: Pos, msg: impl Into<String>) -> RuleError {
    RuleError::new(RuleErrorKind::Syntax, pos, msg)
}

fn lex_string(cur: &mut Cursor<'_>, open: Pos) -> Result<String, RuleError> {
    let mut s = String::new();
    loop {
        let pos = cur.pos();
        match cur.bump() {
            None | Some('\n') => return Err(syntax(open, "unterminated string")),
            Some('"') => return Ok(s),
            Some('\\') => match cur.bump() {
                Some('"') => s.push('"'),
                Some('\\') => s.push('\\'),
                _ => {
                    return Err(syntax(pos, "unknown escape; only `\\\"` and `\\\\` are allowed"));
                }
            },
            Some(c) => s.push(c),
        }
        if s.len() > MAX_STRING_LEN {
            return Err(RuleError::new(
                RuleErrorKind::Limit,
                open,
                format!("string literal is longer than the limit of {MAX_STRING_LEN} bytes"),
            ));
        }
    }
}

fn lex_number<'a>(cur: &mut Cursor<'a>, start: usize, pos: Pos) -> Result<Tok, RuleError> {
    let digits = |cur: &mut Cursor<'a>| {
        while cur.peek().is_some_and(|c| c.is_ascii_digit() || c == '_') {
            cur.bump();
        }
    };
    digits(cur);
    if cur.peek() == Some('.') && cur.peek2().is_some_and(|c| c.is_ascii_digit()) {
        cur.bump();
        digits(cur);
    }
    if matches!(cur.peek(), Some('e' | 'E')) {
        let sign = matches!(cur.peek2(), Some('+' | '-'));
        let after = if sign { cur.src[cur.at..].chars().nth(2) } else { cur.peek2() };
        if after.is_some_and(|c| c.is_ascii_digit()) {
            cur.bump();
            if sign {
                cur.bump();
            }
            digits(cur);
        }
    }
    if cur.peek().is_some_and(is_ident_char) {
        return Err(syntax(pos, format!("malformed number `{}`", &cur.src[start..=cur.at])));
    }
    let text: String = cur.src[start..cur.at].chars().filter(|&c| c != '_').collect();
    text.parse().map(Tok::Num).map_err(|_| syntax(pos, format!("malformed number `{}`", &cur.src[start..cur.at])))
}
