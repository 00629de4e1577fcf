//! What a caller declares before compiling rules: the fields that exist and the named lists.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Whether a field has one value per subject (header) or one per item line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Header,
    Item,
}

/// The type of a field's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    Number,
    Text,
    Bool,
}

impl Type {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Type::Number => "number",
            Type::Text => "text",
            Type::Bool => "bool",
        }
    }
}

/// A declared field. Only meaningful with the [`Schema`] that issued it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldId(pub(crate) u32);

impl FieldId {
    /// Position of the field in declaration order.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

#[derive(Debug, Clone)]
pub(crate) struct FieldDef {
    pub name: Box<str>,
    pub scope: Scope,
    pub ty: Type,
    /// Index among the fields of the same scope; this is what evaluation uses.
    pub slot: u32,
}

/// Words of the language that cannot be field names, because the parser reads
/// them as operators wherever they appear.
pub(crate) const RESERVED: &[&str] = &["and", "or", "not", "in", "starts_with", "true", "false"];

/// The fields rules may refer to. Built once by the caller, then shared by
/// compilation and by every [`crate::Facts`].
#[derive(Debug, Clone, Default)]
pub struct Schema {
    pub(crate) defs: Vec<FieldDef>,
    by_name: HashMap<Box<str>, u32>,
    pub(crate) header_slots: u32,
    pub(crate) item_slots: u32,
}

impl Schema {
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares a field; names are dotted paths like `trade_mode`,
    /// `trader.credit_class`, `item.hs_code`. Item-scoped names must start
    /// with `item.`, header names must not.
    ///
    /// # Panics
    ///
    /// On a duplicate name, a name that is not a dotted identifier, a reserved
    /// word, or a name whose `item.` prefix disagrees with `scope`: these are
    /// programming errors in the caller's schema, not user input.
    pub fn field(&mut self, name: &str, scope: Scope, ty: Type) -> FieldId {
        assert!(valid_name(name), "invalid field name `{name}`");
        assert!(!RESERVED.contains(&name), "field name `{name}` is a reserved word");
        let is_item = name.starts_with("item.");
        assert!(
            is_item == (scope == Scope::Item),
            "field `{name}`: item-scoped names, and only they, start with `item.`"
        );
        assert!(!self.by_name.contains_key(name), "field `{name}` declared twice");
        let slot = match scope {
            Scope::Header => &mut self.header_slots,
            Scope::Item => &mut self.item_slots,
        };
        let def = FieldDef { name: name.into(), scope, ty, slot: *slot };
        *slot += 1;
        let id = self.defs.len() as u32;
        self.defs.push(def);
        self.by_name.insert(name.into(), id);
        FieldId(id)
    }

    pub fn lookup(&self, name: &str) -> Option<(FieldId, Scope, Type)> {
        let id = *self.by_name.get(name)?;
        let def = &self.defs[id as usize];
        Some((FieldId(id), def.scope, def.ty))
    }

    /// The declared fields in declaration order, for help listings.
    pub fn fields(&self) -> impl Iterator<Item = (FieldId, &str, Scope, Type)> + '_ {
        self.defs.iter().enumerate().map(|(i, d)| (FieldId(i as u32), &*d.name, d.scope, d.ty))
    }

    pub fn name(&self, id: FieldId) -> &str {
        &self.defs[id.index()].name
    }

    pub fn len(&self) -> usize {
        self.defs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }

    pub(crate) fn def(&self, id: u32) -> &FieldDef {
        &self.defs[id as usize]
    }

    /// The declared name closest to `name`, if one is close enough to be a typo.
    pub(crate) fn suggest(&self, name: &str) -> Option<&str> {
        let len = name.chars().count();
        let budget = (len / 4).max(2);
        self.defs
            .iter()
            // The distance is at least the difference in length: skipping
            // hopeless names keeps a very long unknown name from costing
            // length times length per declared field.
            .filter(|d| d.name.chars().count().abs_diff(len) <= budget)
            .map(|d| (edit_distance(name, &d.name), &*d.name))
            .filter(|(d, _)| *d <= budget)
            .min_by_key(|(d, _)| *d)
            .map(|(_, n)| n)
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|seg| {
            let mut chars = seg.chars();
            matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Named watch-lists of text values, referred to as `list("name")` in rules.
///
/// A compiled rule keeps a shared snapshot of each list it uses, taken at
/// compile time: changing a list means recompiling the rules that use it.
#[derive(Debug, Clone, Default)]
pub struct Lists {
    lists: HashMap<String, Arc<HashSet<String>>>,
}

impl Lists {
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates or replaces the list `name`.
    pub fn set(&mut self, name: &str, values: impl IntoIterator<Item = String>) {
        self.lists.insert(name.to_owned(), Arc::new(values.into_iter().collect()));
    }

    pub fn get(&self, name: &str) -> Option<&HashSet<String>> {
        self.lists.get(name).map(|l| &**l)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.lists.keys().map(String::as_str)
    }

    pub(crate) fn shared(&self, name: &str) -> Option<Arc<HashSet<String>>> {
        self.lists.get(name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("trade_mod", "trade_mode"), 1);
    }

    #[test]
    fn names_must_agree_with_scope() {
        let result = std::panic::catch_unwind(|| {
            Schema::new().field("hs_code", Scope::Item, Type::Text);
        });
        assert!(result.is_err());
        assert!(valid_name("item.ref.median"));
        assert!(!valid_name("item..x"));
        assert!(!valid_name("9lives"));
    }
}
