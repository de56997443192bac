//! Resolution from parameters, defaults, conditions and mappings; errors naming what to pass.

use super::*;
use crate::import::template;

const TEMPLATE: &str = "\
Parameters:
  Stage: {Type: String, Default: prod}
  PoolArn: {Type: 'AWS::SSM::Parameter::Value<String>', Default: /auth/PoolArn}
  Ids: {Type: CommaDelimitedList, Default: 'a, b'}
  Needed: {Type: String}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  NotProd: !Not [!Condition IsProd]
Mappings:
  Pools: {prod: {Id: eu-west-3_abc}}
Resources:
  Pool: {Type: 'AWS::Cognito::UserPool'}
Values:
  sub: !Sub 'https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/${Id}-${!Keep}'
  subvars: !Sub ['${A}/${Stage}', {A: !Select [1, !Ref Ids]}]
  join: !Join [':', [arn, !Ref 'AWS::Partition', !FindInMap [Pools, !Ref Stage, Id]]]
  split: !Split [',', 'x,y']
  if: !If [NotProd, dev, !If [IsProd, live, never]]
  novalue: !If [IsProd, !Ref 'AWS::NoValue', x]
  ssm: !Ref PoolArn
  needed: !Ref Needed
  attr: !GetAtt Pool.Arn
  ref: !Ref Pool
  import: !ImportValue {'Fn::Sub': '${Stage}-PoolArn'}
  azs: !GetAZs ''
";

fn given() -> HashMap<String, String> {
    HashMap::from([
        ("AWS::Region".to_owned(), "eu-west-3".to_owned()),
        ("Id".to_owned(), "unused".to_owned()),
    ])
}

#[test]
fn values_resolve_from_parameters_defaults_conditions_and_mappings() {
    let root = template::parse("t.yaml", TEMPLATE).expect("parses");
    let mut given = given();
    let r = Resolver::new(&root, "t.yaml", Rc::new(given.clone()));
    let values = root.get("Values").expect("values");
    let loc = Loc::new("t.yaml", "Values");
    let s = |k: &str| r.string(values.get(k).expect(k), &loc.key(k));
    assert_eq!(s("subvars"), Ok(Some("b/prod".into())));
    assert_eq!(s("join"), Ok(Some("arn:aws:eu-west-3_abc".into())));
    assert_eq!(s("if"), Ok(Some("live".into())));
    assert_eq!(s("novalue"), Ok(None));
    assert_eq!(
        r.strings(values.get("split").expect("split"), &loc),
        Ok(vec!["x".to_owned(), "y".to_owned()])
    );
    // `Id` is neither a parameter nor a resource, but was given: used as is.
    assert_eq!(
        s("sub"),
        Ok(Some(
            "https://cognito-idp.eu-west-3.amazonaws.com/unused-${Keep}".into()
        ))
    );
    given.insert("prod-PoolArn".into(), "arn:x".into());
    let r = Resolver::new(&root, "t.yaml", Rc::new(given));
    assert_eq!(
        r.string(values.get("import").expect("import"), &loc),
        Ok(Some("arn:x".into()))
    );
}

#[test]
fn a_condition_that_depends_on_itself_is_an_error() {
    let text = "Conditions:\n  A: !Equals [!If [A, x, y], x]\nValues:\n  v: !If [A, 1, 2]\n";
    let root = template::parse("t.yaml", text).expect("parses");
    let r = Resolver::new(&root, "t.yaml", Rc::new(HashMap::new()));
    let v = root.get("Values").and_then(|v| v.get("v")).expect("v");
    let p = r
        .string(v, &Loc::new("t.yaml", "Values.v"))
        .expect_err("a loop");
    assert!(p.message.contains("depends on itself"), "{p}");
}

#[test]
fn unresolvable_values_name_the_parameter_to_pass() {
    let root = template::parse("t.yaml", TEMPLATE).expect("parses");
    let r = Resolver::new(&root, "t.yaml", Rc::new(given()));
    let values = root.get("Values").expect("values");
    let loc = Loc::new("t.yaml", "Values");
    for (key, says) in [
        ("ssm", "SSM-typed"),
        ("ssm", "--parameter PoolArn=VALUE"),
        ("needed", "--parameter Needed=VALUE"),
        ("attr", "--parameter Pool.Arn=VALUE"),
        ("ref", "--parameter Pool=VALUE"),
        ("import", "--parameter 'prod-PoolArn=VALUE'"),
        ("azs", "Fn::GetAZs cannot be resolved"),
    ] {
        let node = values.get(key).expect(key);
        let p = r.string(node, &loc.key(key)).expect_err(key);
        assert!(p.message.contains(says), "{key}: {p}");
        assert_eq!(p.place.line, Some(node.line), "{key}: {p}");
    }
}
