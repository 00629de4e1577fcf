//! The declaration (报关单) with its item lines and documents, as DATA.md
//! defines it, and its validation from JSON.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::currency::{cny_rate, known_currencies};
use crate::error::ValidationError;
use crate::fields::{
    MAX_AMOUNT, MAX_QUANTITY, MAX_WEIGHT_KG, MIN_QUANTITY, MIN_WEIGHT_KG, Obj, is_code, is_country, is_digits,
};

crate::word_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum Direction {
        Import => "import",
        Export => "export",
    }
}

crate::word_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum TransportMode {
        Sea => "sea",
        Air => "air",
        Road => "road",
        Rail => "rail",
        Post => "post",
        Other => "other",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Party {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OverseasParty {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Item {
    pub line: u32,
    pub hs_code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub origin: String,
    pub quantity: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    pub net_weight_kg: f64,
    pub value: f64,
    pub duty_rate: f64,
    #[serde(skip_serializing_if = "Map::is_empty")]
    /// Fields beyond DATA.md's, kept as sent.
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
}

impl Item {
    pub fn hs6(&self) -> &str {
        &self.hs_code[..6]
    }
    pub fn hs4(&self) -> &str {
        &self.hs_code[..4]
    }
    pub fn unit_value(&self) -> Option<f64> {
        (self.quantity > 0.0).then(|| self.value / self.quantity)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Document {
    pub kind: String,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Declaration {
    pub id: String,
    pub declared_at: DateTime<FixedOffset>,
    pub direction: Direction,
    pub office: String,
    pub transport_mode: TransportMode,
    pub trade_mode: String,
    pub trader: Party,
    pub declarant: Party,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overseas_party: Option<OverseasParty>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_of_departure: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incoterm: Option<String>,
    pub currency: String,
    pub items: Vec<Item>,
    pub documents: Vec<Document>,
    /// Fields beyond DATA.md's, kept as sent.
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
}

const INCOTERMS: &[&str] = &["EXW", "FCA", "FAS", "FOB", "CFR", "CIF", "CPT", "CIP", "DAP", "DPU", "DAT", "DDP", "C&F"];

impl Declaration {
    /// Validates one declaration. Unknown top-level fields are kept in
    /// `attributes`; unknown item fields in the item's `attributes`.
    pub fn from_json(v: &Value) -> Result<Declaration, ValidationError> {
        let mut o = Obj::new(v, "")?;
        let id = o.req_str_with("id", "an id of letters, digits, '-', '_', '.' or '/' (at most 64)", is_code)?;
        let declared_at = o.req_time("declared_at")?;
        let direction = o.req_enum("direction", &Direction::ALL)?;
        let office = o.req_str_with("office", "an office code of letters and digits", is_code)?;
        let transport_mode = o.req_enum("transport_mode", &TransportMode::ALL)?;
        let trade_mode = o.req_str_with("trade_mode", "a 4-digit trade mode code", |s| is_digits(s, 4, 4))?;
        let trader = party(&mut o, "trader")?;
        let declarant = party(&mut o, "declarant")?;
        let overseas_party = match o.get("overseas_party") {
            None => None,
            Some(pv) => {
                let mut p = Obj::new(pv, &o.path("overseas_party"))?;
                let id = p.req_str("id")?.to_string();
                let name = p.opt_str("name")?.map(str::to_string);
                let country = p.opt_str_with("country", "a 2-letter country code", is_country)?.map(str::to_string);
                p.deny_rest()?;
                Some(OverseasParty { id, name, country })
            }
        };
        let country_of_departure =
            o.opt_str_with("country_of_departure", "a 2-letter country code", is_country)?.map(str::to_string);
        let incoterm = o
            .opt_str_with("incoterm", "an Incoterms code such as \"CIF\" or \"FOB\"", |s| INCOTERMS.contains(&s))?
            .map(str::to_string);
        let expected_currency = format!("a currency code with a reference rate ({})", known_currencies());
        let currency = o.req_str_with("currency", &expected_currency, |s| cny_rate(s).is_some())?.to_string();
        let raw_items = o.req_array("items", "a non-empty array of item lines")?;
        if raw_items.is_empty() {
            return Err(ValidationError::new("items", "a non-empty array of item lines", "an empty array"));
        }
        let mut items = Vec::with_capacity(raw_items.len());
        for (i, iv) in raw_items.iter().enumerate() {
            let item = item(iv, i)?;
            if items.iter().any(|x: &Item| x.line == item.line) {
                return Err(ValidationError::new(
                    &format!("items[{i}].line"),
                    "a line number unique within the declaration",
                    format!("{} again", item.line),
                ));
            }
            items.push(item);
        }
        let mut documents = Vec::new();
        if let Some(docs) = o.opt_array("documents", "an array of {kind, id}")? {
            for (i, dv) in docs.iter().enumerate() {
                let mut d = Obj::new(dv, &format!("documents[{i}]"))?;
                let kind = d.req_str("kind")?.to_string();
                let id = d.req_str("id")?.to_string();
                d.deny_rest()?;
                documents.push(Document { kind, id });
            }
        }
        let attributes = o.rest()?;
        Ok(Declaration {
            id: id.to_string(),
            declared_at,
            direction,
            office: office.to_string(),
            transport_mode,
            trade_mode: trade_mode.to_string(),
            trader,
            declarant,
            overseas_party,
            country_of_departure,
            incoterm,
            currency,
            items,
            documents,
            attributes,
        })
    }

    /// CNY per unit of the declaration's currency.
    pub fn rate(&self) -> f64 {
        cny_rate(&self.currency).unwrap_or(1.0)
    }

    pub fn total_value(&self) -> f64 {
        self.items.iter().map(|i| i.value).sum()
    }

    pub fn total_value_cny(&self) -> f64 {
        self.total_value() * self.rate()
    }

    /// The value-weighted duty rate of the items (0 without value).
    pub fn duty_rate(&self) -> f64 {
        let value = self.total_value();
        if value > 0.0 { self.items.iter().map(|i| i.value * i.duty_rate).sum::<f64>() / value } else { 0.0 }
    }

    /// Duty the declaration declares, in CNY (the revenue at stake).
    pub fn declared_duty_cny(&self) -> f64 {
        self.items.iter().map(|i| i.value * i.duty_rate).sum::<f64>() * self.rate()
    }

    pub fn invoice_ids(&self) -> impl Iterator<Item = &str> {
        self.documents.iter().filter(|d| d.kind == "invoice").map(|d| d.id.as_str())
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("declaration serialises")
    }
}

fn party(o: &mut Obj<'_>, key: &'static str) -> Result<Party, ValidationError> {
    let v = o.req(key, "an object {id, name}")?;
    let mut p = Obj::new(v, &o.path(key))?;
    let id = p.req_str_with("id", "an id of letters, digits, '-', '_', '.' or '/' (at most 64)", is_code)?;
    let name = p.opt_str("name")?.map(str::to_string);
    p.deny_rest()?;
    Ok(Party { id: id.to_string(), name })
}

fn item(v: &Value, i: usize) -> Result<Item, ValidationError> {
    let mut o = Obj::new(v, &format!("items[{i}]"))?;
    let line = o.req_num("line", "a positive whole line number", |x| x >= 1.0 && x.fract() == 0.0 && x < 1e6)?;
    let hs_code = o.req_str_with("hs_code", "6 to 10 digits", |s| is_digits(s, 6, 10))?;
    let description = o.opt_str("description")?.map(str::to_string);
    let origin = o.req_str_with("origin", "a 2-letter country code", is_country)?;
    let quantity =
        o.req_num("quantity", "a positive number from 1e-6 to 1e12", |x| (MIN_QUANTITY..=MAX_QUANTITY).contains(&x))?;
    let unit = o.opt_str("unit")?.map(str::to_string);
    let net_weight_kg = o.req_num("net_weight_kg", "a number of kilograms, 0 or from 1e-6 to 1e10", |x| {
        x == 0.0 || (MIN_WEIGHT_KG..=MAX_WEIGHT_KG).contains(&x)
    })?;
    let value = o.req_num("value", "a declared value from 0 to 1e15", |x| (0.0..=MAX_AMOUNT).contains(&x))?;
    let duty_rate =
        o.req_num("duty_rate", "a duty rate as a fraction between 0 and 10 (1000%)", |x| (0.0..=10.0).contains(&x))?;
    let attributes = o.rest()?;
    Ok(Item {
        line: line as u32,
        hs_code: hs_code.to_string(),
        description,
        origin: origin.to_string(),
        quantity,
        unit,
        net_weight_kg,
        value,
        duty_rate,
        attributes,
    })
}
