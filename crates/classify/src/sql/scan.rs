//! A walk over every node below a statement, through the parse tree's serde form. It is
//! complete by construction: a function call, a relation or a nested data-modifying statement
//! cannot hide in a node kind the typed code in `stmt.rs` does not look into, because this
//! walk visits every field of every node without knowing their kinds.

use std::fmt;

use serde::Serialize;
use serde::ser::{self, Impossible};

/// What a walk found below one node.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Every function called, as its lower-cased name parts (`["pg_catalog", "lo_unlink"]`).
    pub functions: Vec<Vec<String>>,
    /// Every relation named (`RangeVar`): schema (may be empty) and name.
    pub relations: Vec<Relation>,
    /// Names of the common table expressions defined (they are not tables).
    pub ctes: Vec<String>,
    /// How many data-modifying statements (INSERT, UPDATE, DELETE, MERGE) appear, the
    /// scanned node included.
    pub dml: usize,
    /// How many column references appear.
    pub columns: usize,
    /// A temporary relation is named: the fingerprint leaves temporary names out.
    pub temporary: bool,
    /// The deepest nesting of nodes.
    pub depth: usize,
    /// Struct names from the root to the node being visited, each with its current field.
    stack: Vec<(&'static str, &'static str)>,
    /// Name parts of the function call being visited.
    collecting: Option<Vec<String>>,
    /// The relation being visited.
    relation: Relation,
}

/// A relation named in a statement.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Relation {
    pub schema: String,
    pub name: String,
}

/// Walk everything below `node`.
pub(crate) fn scan<T: Serialize + ?Sized>(node: &T) -> Scan {
    let mut s = Scan::default();
    // The walk cannot fail: every method below returns Ok.
    let _ = node.serialize(&mut s);
    s
}

impl Scan {
    fn at(&self) -> (&'static str, &'static str) {
        self.stack.last().copied().unwrap_or(("", ""))
    }

    fn string(&mut self, v: &str) {
        match self.at() {
            ("String", "sval") => {
                if let Some(parts) = self.collecting.as_mut() {
                    parts.push(v.to_lowercase());
                }
            }
            ("RangeVar", "schemaname") => self.relation.schema = v.to_owned(),
            ("RangeVar", "relname") => self.relation.name = v.to_owned(),
            ("RangeVar", "relpersistence") if v == "t" => self.temporary = true,
            ("CommonTableExpr", "ctename") => self.ctes.push(v.to_owned()),
            _ => {}
        }
    }

    fn enter(&mut self, name: &'static str) {
        self.stack.push((name, ""));
        self.depth = self.depth.max(self.stack.len());
        match name {
            "InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt" => self.dml += 1,
            "ColumnRef" => self.columns += 1,
            "RangeVar" => self.relation = Relation::default(),
            _ => {}
        }
    }

    fn leave(&mut self) {
        if let Some((name, _)) = self.stack.pop()
            && name == "RangeVar"
        {
            let r = std::mem::take(&mut self.relation);
            if !r.name.is_empty() && !self.relations.contains(&r) {
                self.relations.push(r);
            }
        }
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) {
        if let Some(top) = self.stack.last_mut() {
            top.1 = key;
        }
        let call = self.at() == ("FuncCall", "funcname");
        if call {
            self.collecting = Some(Vec::new());
        }
        let _ = value.serialize(&mut *self);
        if call && let Some(parts) = self.collecting.take() {
            self.functions.push(parts);
        }
    }
}

/// The walk never fails; serde needs an error type all the same.
#[derive(Debug)]
pub(crate) struct Never;

impl fmt::Display for Never {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("scan error")
    }
}

impl std::error::Error for Never {}

impl ser::Error for Never {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        Never
    }
}

type Done = Result<(), Never>;

impl ser::Serializer for &mut Scan {
    type Ok = ();
    type Error = Never;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Impossible<(), Never>;

    fn serialize_bool(self, _: bool) -> Done {
        Ok(())
    }
    fn serialize_i8(self, _: i8) -> Done {
        Ok(())
    }
    fn serialize_i16(self, _: i16) -> Done {
        Ok(())
    }
    fn serialize_i32(self, _: i32) -> Done {
        Ok(())
    }
    fn serialize_i64(self, _: i64) -> Done {
        Ok(())
    }
    fn serialize_u8(self, _: u8) -> Done {
        Ok(())
    }
    fn serialize_u16(self, _: u16) -> Done {
        Ok(())
    }
    fn serialize_u32(self, _: u32) -> Done {
        Ok(())
    }
    fn serialize_u64(self, _: u64) -> Done {
        Ok(())
    }
    fn serialize_f32(self, _: f32) -> Done {
        Ok(())
    }
    fn serialize_f64(self, _: f64) -> Done {
        Ok(())
    }
    fn serialize_char(self, _: char) -> Done {
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Done {
        self.string(v);
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Done {
        Ok(())
    }
    fn serialize_none(self) -> Done {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Done {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Done {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Done {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Done {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Done {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> Done {
        value.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self, Never> {
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, Never> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, Never> {
        Ok(self)
    }
    fn serialize_tuple_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Self, Never> {
        Ok(self)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self, Never> {
        Ok(self)
    }
    fn serialize_struct(self, name: &'static str, _: usize) -> Result<Self, Never> {
        self.enter(name);
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Never> {
        // The parse tree has no struct variants (its enums wrap structs); refusing one
        // keeps the walk honest should that change.
        Err(Never)
    }
}

impl ser::SerializeSeq for &mut Scan {
    type Ok = ();
    type Error = Never;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
        value.serialize(&mut **self)
    }
    fn end(self) -> Done {
        Ok(())
    }
}

impl ser::SerializeTuple for &mut Scan {
    type Ok = ();
    type Error = Never;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
        value.serialize(&mut **self)
    }
    fn end(self) -> Done {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for &mut Scan {
    type Ok = ();
    type Error = Never;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
        value.serialize(&mut **self)
    }
    fn end(self) -> Done {
        Ok(())
    }
}

impl ser::SerializeTupleVariant for &mut Scan {
    type Ok = ();
    type Error = Never;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
        value.serialize(&mut **self)
    }
    fn end(self) -> Done {
        Ok(())
    }
}

impl ser::SerializeMap for &mut Scan {
    type Ok = ();
    type Error = Never;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, _: &T) -> Done {
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
        value.serialize(&mut **self)
    }
    fn end(self) -> Done {
        Ok(())
    }
}

impl ser::SerializeStruct for &mut Scan {
    type Ok = ();
    type Error = Never;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Done {
        self.field(key, value);
        Ok(())
    }
    fn end(self) -> Done {
        self.leave();
        Ok(())
    }
}
