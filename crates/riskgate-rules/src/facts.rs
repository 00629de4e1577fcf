//! One subject's values, laid out by slot so compiled rules read them without lookups.

use crate::schema::{FieldId, Schema, Scope, Type};

/// A stored value. Text points into the [`Facts`] arena so that filling facts
/// for the next subject reuses memory instead of allocating one `String` per value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Val {
    Missing,
    Num(f64),
    Bool(bool),
    Text { start: u32, len: u32 },
}

/// One subject's values (a header plus item lines), filled by the caller.
///
/// Reusable: [`Facts::clear`] keeps every buffer's capacity, so in steady state
/// filling and evaluating does not allocate. Fields never set are *missing*.
///
/// A `Facts` must be built from the same [`Schema`] the evaluated rules were
/// compiled against.
#[derive(Debug, Clone)]
pub struct Facts {
    /// Per field id: scope, type and slot, copied from the schema once.
    meta: Vec<(Scope, Type, u32)>,
    header: Vec<Val>,
    item_width: usize,
    items: Vec<Val>,
    n_items: usize,
    arena: String,
}

const MISSING: Val = Val::Missing;

impl Facts {
    pub fn new(schema: &Schema) -> Self {
        Facts {
            meta: schema.defs.iter().map(|d| (d.scope, d.ty, d.slot)).collect(),
            header: vec![Val::Missing; schema.header_slots as usize],
            item_width: schema.item_slots as usize,
            items: Vec::new(),
            n_items: 0,
            arena: String::new(),
        }
    }

    /// Forgets every value and item line, keeping allocated capacity.
    pub fn clear(&mut self) {
        self.header.fill(Val::Missing);
        self.items.clear();
        self.n_items = 0;
        self.arena.clear();
    }

    pub fn set_num(&mut self, f: FieldId, v: f64) {
        let slot = self.header_slot(f, Type::Number);
        self.header[slot] = Val::Num(v);
    }

    pub fn set_text(&mut self, f: FieldId, v: &str) {
        let slot = self.header_slot(f, Type::Text);
        self.header[slot] = self.intern(v);
    }

    pub fn set_bool(&mut self, f: FieldId, v: bool) {
        let slot = self.header_slot(f, Type::Bool);
        self.header[slot] = Val::Bool(v);
    }

    /// Makes a header field missing again.
    pub fn unset(&mut self, f: FieldId) {
        let (scope, _, slot) = self.meta[f.index()];
        assert!(scope == Scope::Header, "unset: field {f:?} is item-scoped");
        self.header[slot as usize] = Val::Missing;
    }

    /// Starts a new item line with every item field missing; returns its index.
    pub fn push_item(&mut self) -> usize {
        self.items.extend(std::iter::repeat_n(Val::Missing, self.item_width));
        self.n_items += 1;
        self.n_items - 1
    }

    pub fn item_count(&self) -> usize {
        self.n_items
    }

    pub fn set_item_num(&mut self, item: usize, f: FieldId, v: f64) {
        let at = self.item_slot(item, f, Type::Number);
        self.items[at] = Val::Num(v);
    }

    pub fn set_item_text(&mut self, item: usize, f: FieldId, v: &str) {
        let at = self.item_slot(item, f, Type::Text);
        self.items[at] = self.intern(v);
    }

    pub fn set_item_bool(&mut self, item: usize, f: FieldId, v: bool) {
        let at = self.item_slot(item, f, Type::Bool);
        self.items[at] = Val::Bool(v);
    }

    // Wrong scope or type is a bug in the caller's mapping code, so it panics
    // loudly rather than silently making the value missing.
    fn header_slot(&self, f: FieldId, ty: Type) -> usize {
        let (scope, declared, slot) = self.meta[f.index()];
        assert!(scope == Scope::Header, "field {f:?} is item-scoped");
        assert!(declared == ty, "field {f:?} is declared {}", declared.name());
        slot as usize
    }

    fn item_slot(&self, item: usize, f: FieldId, ty: Type) -> usize {
        let (scope, declared, slot) = self.meta[f.index()];
        assert!(scope == Scope::Item, "field {f:?} is header-scoped");
        assert!(declared == ty, "field {f:?} is declared {}", declared.name());
        assert!(item < self.n_items, "item {item} was not pushed");
        item * self.item_width + slot as usize
    }

    fn intern(&mut self, v: &str) -> Val {
        let start = self.arena.len() as u32;
        self.arena.push_str(v);
        Val::Text { start, len: v.len() as u32 }
    }

    // Readers used by evaluation. Out-of-range slots read as missing so that a
    // rule compiled against a larger schema cannot make evaluation panic.

    #[inline]
    pub(crate) fn header(&self, slot: u32) -> Val {
        *self.header.get(slot as usize).unwrap_or(&MISSING)
    }

    #[inline]
    pub(crate) fn item(&self, item: usize, slot: u32) -> Val {
        if slot as usize >= self.item_width {
            return Val::Missing;
        }
        *self.items.get(item * self.item_width + slot as usize).unwrap_or(&MISSING)
    }

    #[inline]
    pub(crate) fn text(&self, v: Val) -> Option<&str> {
        match v {
            Val::Text { start, len } => self.arena.get(start as usize..start as usize + len as usize),
            _ => None,
        }
    }
}
