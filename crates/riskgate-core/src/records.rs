//! The other record kinds of DATA.md: reference data, external data,
//! control outcomes, releases and workforce records, with validation.

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::currency::{cny_rate, known_currencies};
use crate::error::ValidationError;
use crate::fields::{MAX_AMOUNT, Obj, is_code, is_digits};

crate::word_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum OfficeLevel {
        Hq => "hq",
        District => "district",
        Office => "office",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Office {
    pub code: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    pub level: OfficeLevel,
}

impl Office {
    /// An office named by its code (benchmarks, tests and generated worlds
    /// build trees this way; imported offices go through `from_json`).
    pub fn new(code: &str, parent: Option<&str>, level: OfficeLevel) -> Office {
        Office { code: code.into(), name: code.into(), parent: parent.map(str::to_string), level }
    }

    pub fn from_json(v: &Value) -> Result<Self, ValidationError> {
        let mut o = Obj::new(v, "")?;
        let code = o.req_str_with("code", "an office code of letters and digits", is_code)?.to_string();
        let name = o.req_str("name")?.to_string();
        let parent = o.opt_str("parent")?.filter(|s| !s.is_empty()).map(str::to_string);
        let level = o.req_enum("level", &OfficeLevel::ALL)?;
        o.deny_rest()?;
        if level != OfficeLevel::Hq && parent.is_none() {
            return Err(ValidationError::new("parent", "the code of the parent office (only HQ has none)", "nothing"));
        }
        Ok(Office { code, name, parent, level })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Officer {
    pub id: String,
    pub name: String,
    pub office: String,
    pub post: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_since: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
}

impl Officer {
    pub fn from_json(v: &Value) -> Result<Self, ValidationError> {
        let mut o = Obj::new(v, "")?;
        let id = o.req_str_with("id", "an officer id of letters and digits", is_code)?.to_string();
        let name = o.req_str("name")?.to_string();
        let office = o.req_str_with("office", "an office code", is_code)?.to_string();
        let post = o.req_str("post")?.to_string();
        let post_since = o.opt_date("post_since")?;
        let department = o.opt_str("department")?.map(str::to_string);
        o.deny_rest()?;
        Ok(Officer { id, name, office, post, post_since, department })
    }
}

crate::word_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum CreditClass {
        /// 高级认证企业 (AEO advanced)
        Advanced => "advanced",
        /// 一般认证企业
        General => "general",
        /// 一般信用企业
        Ordinary => "ordinary",
        /// 失信企业
        Dishonest => "dishonest",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Enterprise {
    pub id: String,
    pub name: String,
    pub credit_class: CreditClass,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_at: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_capital_cny: Option<f64>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    /// Fields beyond DATA.md's, kept as sent.
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
}

impl Enterprise {
    pub fn from_json(v: &Value) -> Result<Self, ValidationError> {
        let mut o = Obj::new(v, "")?;
        let id = o.req_str_with("id", "an enterprise id of letters and digits", is_code)?.to_string();
        let name = o.req_str("name")?.to_string();
        let credit_class = o.req_enum("credit_class", &CreditClass::ALL)?;
        let registered_at = o.opt_date("registered_at")?;
        let registered_capital_cny = o.opt_num("registered_capital_cny", "an amount in CNY from 0 to 1e15", |x| {
            (0.0..=MAX_AMOUNT).contains(&x)
        })?;
        let attributes = o.rest()?;
        Ok(Enterprise { id, name, credit_class, registered_at, registered_capital_cny, attributes })
    }
}

/// A payment abroad reported by a bank or the forex administration (M6).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ForexPayment {
    pub trader: String,
    pub paid_at: DateTime<FixedOffset>,
    pub amount: f64,
    pub currency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bank: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

impl ForexPayment {
    pub fn from_json(v: &Value) -> Result<Self, ValidationError> {
        let mut o = Obj::new(v, "")?;
        let trader = o.req_str_with("trader", "a trader id", is_code)?.to_string();
        let paid_at = o.req_time("paid_at")?;
        let amount = o.req_num("amount", "a positive amount up to 1e15", |x| x > 0.0 && x <= MAX_AMOUNT)?;
        let expected = format!("a currency code with a reference rate ({})", known_currencies());
        let currency = o.req_str_with("currency", &expected, |s| cny_rate(s).is_some())?.to_string();
        let bank = o.opt_str("bank")?.map(str::to_string);
        let reference = o.opt_str("reference")?.filter(|s| !s.is_empty()).map(str::to_string);
        o.deny_rest()?;
        Ok(ForexPayment { trader, paid_at, amount, currency, bank, reference })
    }
    pub fn amount_cny(&self) -> f64 {
        self.amount * cny_rate(&self.currency).unwrap_or(1.0)
    }
}

/// A VAT / tax invoice record from the tax administration (M6).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TaxInvoice {
    pub trader: String,
    pub issued_at: DateTime<FixedOffset>,
    pub amount_cny: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hs_code: Option<String>,
}

impl TaxInvoice {
    pub fn from_json(v: &Value) -> Result<Self, ValidationError> {
        let mut o = Obj::new(v, "")?;
        let trader = o.req_str_with("trader", "a trader id", is_code)?.to_string();
        let issued_at = o.req_time("issued_at")?;
        let amount_cny =
            o.req_num("amount_cny", "an amount in CNY between -1e15 and 1e15", |x| x.abs() <= MAX_AMOUNT)?;
        let hs_code = o.opt_str_with("hs_code", "2 to 10 digits", |s| is_digits(s, 2, 10))?.map(str::to_string);
        o.deny_rest()?;
        Ok(TaxInvoice { trader, issued_at, amount_cny, hs_code })
    }
}

crate::word_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum ControlKind {
        Document => "document",
        Physical => "physical",
        Audit => "audit",
    }
}

pub const FINDING_KINDS: &[&str] =
    &["undervaluation", "misclassification", "origin", "quantity", "prohibited", "licence", "smuggling", "other"];

/// The result of a control (查验/审单结果).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Outcome {
    pub declaration_id: String,
    pub officer: String,
    pub control: ControlKind,
    pub completed_at: DateTime<FixedOffset>,
    pub result: OutcomeResult,
    pub findings: Vec<String>,
    pub additional_duty: f64,
    pub seizure: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released_at: Option<DateTime<FixedOffset>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    /// Fields beyond DATA.md's, kept as sent.
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeResult {
    Finding,
    NoFinding,
}

impl Outcome {
    pub fn from_json(v: &Value) -> Result<Self, ValidationError> {
        let mut o = Obj::new(v, "")?;
        let declaration_id = o.req_str_with("declaration_id", "a declaration id", is_code)?.to_string();
        let officer = o.req_str_with("officer", "an officer id", is_code)?.to_string();
        let control = o.req_enum("control", &ControlKind::ALL)?;
        let completed_at = o.req_time("completed_at")?;
        let result =
            o.req_enum("result", &[("finding", OutcomeResult::Finding), ("no_finding", OutcomeResult::NoFinding)])?;
        let mut findings = Vec::new();
        if let Some(arr) = o.opt_array("findings", "an array of finding kinds")? {
            for (i, f) in arr.iter().enumerate() {
                match f.as_str() {
                    Some(s) if FINDING_KINDS.contains(&s) => findings.push(s.to_string()),
                    _ => {
                        return Err(ValidationError::new(
                            &format!("findings[{i}]"),
                            &format!("one of {}", FINDING_KINDS.join(", ")),
                            crate::fields::describe(f),
                        ));
                    }
                }
            }
        }
        if result == OutcomeResult::Finding && findings.is_empty() {
            return Err(ValidationError::new(
                "findings",
                "at least one finding kind when result is \"finding\"",
                "none",
            ));
        }
        if result == OutcomeResult::NoFinding && !findings.is_empty() {
            return Err(ValidationError::new(
                "findings",
                "no findings when result is \"no_finding\"",
                format!("{findings:?}"),
            ));
        }
        let additional_duty = o
            .opt_num("additional_duty", "an amount in CNY from 0 to 1e15", |x| (0.0..=MAX_AMOUNT).contains(&x))?
            .unwrap_or(0.0);
        let seizure = o.opt_bool("seizure")?.unwrap_or(false);
        let released_at = o.opt_time("released_at")?;
        if let Some(r) = released_at
            && r < completed_at - chrono::Duration::days(365)
        {
            return Err(ValidationError::new("released_at", "a time not long before completed_at", r.to_rfc3339()));
        }
        let note = o.opt_str("note")?.map(str::to_string);
        let attributes = o.rest()?;
        Ok(Outcome {
            declaration_id,
            officer,
            control,
            completed_at,
            result,
            findings,
            additional_duty,
            seizure,
            released_at,
            note,
            attributes,
        })
    }
    pub fn is_finding(&self) -> bool {
        self.result == OutcomeResult::Finding
    }
}

/// A release (放行) recorded for a declaration without an outcome record.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Release {
    pub declaration_id: String,
    pub released_at: DateTime<FixedOffset>,
}

impl Release {
    pub fn from_json(v: &Value) -> Result<Self, ValidationError> {
        let mut o = Obj::new(v, "")?;
        let declaration_id = o.req_str_with("declaration_id", "a declaration id", is_code)?.to_string();
        let released_at = o.req_time("released_at")?;
        o.deny_rest()?;
        Ok(Release { declaration_id, released_at })
    }
}

/// Workforce records (DATA.md "Workforce records", M7/M9): the raw material
/// of the workforce KPIs and of integrity analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WorkforceRecord {
    /// 违纪违法案件: a disciplinary case against an officer.
    Disciplinary { officer: String, opened_at: DateTime<FixedOffset>, case_kind: String, status: String },
    /// 内务规范检查: an internal-affairs inspection of a unit.
    Inspection { unit: String, inspected_at: DateTime<FixedOffset>, passed: bool },
    /// 党风廉政建设责任制考核: a unit's yearly leadership assessment.
    Assessment { unit: String, year: i32, passed: bool },
    /// 行政诉讼: an administrative litigation case.
    Litigation { id: String, office: String, filed_at: DateTime<FixedOffset>, outcome: LitigationOutcome },
}

crate::word_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum LitigationOutcome {
        Won => "won",
        Lost => "lost",
        Withdrawn => "withdrawn",
        Pending => "pending",
    }
}

impl WorkforceRecord {
    pub fn disciplinary_from_json(v: &Value) -> Result<Self, ValidationError> {
        let mut o = Obj::new(v, "")?;
        let officer = o.req_str_with("officer", "an officer id", is_code)?.to_string();
        let opened_at = o.req_time_or_date("opened_at")?;
        let case_kind = o.req_str("kind")?.to_string();
        let status = o.req_str("status")?.to_string();
        o.deny_rest()?;
        Ok(WorkforceRecord::Disciplinary { officer, opened_at, case_kind, status })
    }

    pub fn inspection_from_json(v: &Value) -> Result<Self, ValidationError> {
        let mut o = Obj::new(v, "")?;
        let unit = o.req_str_with("unit", "an office code", is_code)?.to_string();
        let inspected_at = o.req_time_or_date("inspected_at")?;
        let passed = o.req_bool("passed")?;
        o.deny_rest()?;
        Ok(WorkforceRecord::Inspection { unit, inspected_at, passed })
    }

    pub fn assessment_from_json(v: &Value) -> Result<Self, ValidationError> {
        let mut o = Obj::new(v, "")?;
        let unit = o.req_str_with("unit", "an office code", is_code)?.to_string();
        let year = o.req_num("year", "a year such as 2026", |x| x.fract() == 0.0 && (1949.0..=2200.0).contains(&x))?;
        let passed = o.req_bool("passed")?;
        o.deny_rest()?;
        Ok(WorkforceRecord::Assessment { unit, year: year as i32, passed })
    }

    pub fn litigation_from_json(v: &Value) -> Result<Self, ValidationError> {
        let mut o = Obj::new(v, "")?;
        let id = o.req_str_with("id", "a case id", is_code)?.to_string();
        let office = o.req_str_with("office", "an office code", is_code)?.to_string();
        let filed_at = o.req_time_or_date("filed_at")?;
        let outcome = o.req_enum("outcome", &LitigationOutcome::ALL)?;
        o.deny_rest()?;
        Ok(WorkforceRecord::Litigation { id, office, filed_at, outcome })
    }

    /// The office code the record belongs to, if it names one directly.
    pub fn unit(&self) -> Option<&str> {
        match self {
            WorkforceRecord::Disciplinary { .. } => None,
            WorkforceRecord::Inspection { unit, .. } | WorkforceRecord::Assessment { unit, .. } => Some(unit),
            WorkforceRecord::Litigation { office, .. } => Some(office),
        }
    }

    /// The DATA.md JSON of the record.
    pub fn to_json(&self) -> Value {
        match self {
            WorkforceRecord::Disciplinary { officer, opened_at, case_kind, status } => serde_json::json!({
                "officer": officer, "opened_at": opened_at.to_rfc3339(), "kind": case_kind, "status": status
            }),
            WorkforceRecord::Inspection { unit, inspected_at, passed } => serde_json::json!({
                "unit": unit, "inspected_at": inspected_at.to_rfc3339(), "passed": passed
            }),
            WorkforceRecord::Assessment { unit, year, passed } => {
                serde_json::json!({"unit": unit, "year": year, "passed": passed})
            }
            WorkforceRecord::Litigation { id, office, filed_at, outcome } => serde_json::json!({
                "id": id, "office": office, "filed_at": filed_at.to_rfc3339(), "outcome": outcome.as_str()
            }),
        }
    }
}
