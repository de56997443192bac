//! The template being imported, what resolves its values, and the files it names beside it
//! (`AWS::Include`, SAM's `DefinitionUri`), and what it says of the API's custom domain.

use std::path::{Path, PathBuf};

use super::intrinsic::Resolver;
use super::template::{self, Node};
use super::{Loc, Place, Problem};

/// Larger files are refused: no template or export comes near it.
const MAX_FILE: u64 = 8 << 20;

/// A template (or an export) with what resolves its values.
pub(crate) struct Source {
    pub file: String,
    pub dir: PathBuf,
    pub root: Node,
    pub resolver: Resolver,
}

/// A document read from beside the template.
pub(crate) struct Included {
    pub file: String,
    pub root: Node,
}

impl Source {
    /// `Fn::Transform: {Name: AWS::Include, Parameters: {Location: FILE}}`: the file beside the
    /// template; `None` for an inline document.
    pub fn include(&self, node: &Node, loc: &Loc) -> Result<Option<Included>, Problem> {
        match node.intrinsic() {
            None if node.entries().is_some() => Ok(None),
            Some(("Fn::Transform", arg)) => {
                let tloc = loc.key("Fn::Transform");
                let name = arg.get("Name").and_then(Node::scalar);
                if name != Some("AWS::Include") {
                    return Err(tloc.problem(arg, "only the AWS::Include transform can be read"));
                }
                let ploc = tloc.key("Parameters").key("Location");
                let Some(location) = arg.get("Parameters").and_then(|p| p.get("Location")) else {
                    return Err(tloc.problem(arg, "AWS::Include needs Parameters.Location"));
                };
                let text = self.resolver.string(location, &ploc)?.unwrap_or_default();
                self.read_beside(&text, location, &ploc).map(Some)
            }
            _ => Err(loc.problem(
                node,
                "expected an OpenAPI document or Fn::Transform AWS::Include",
            )),
        }
    }

    /// SAM's `DefinitionUri`: a local file beside the template.
    pub fn uri(&self, node: &Node, loc: &Loc) -> Result<Included, Problem> {
        match node.scalar() {
            Some(text) => self.read_beside(text, node, loc),
            None => Err(loc.problem(
                node,
                "DefinitionUri names an S3 object, which an import cannot read: save it beside \
                 the template and name it as a relative path",
            )),
        }
    }

    fn read_beside(&self, text: &str, node: &Node, loc: &Loc) -> Result<Included, Problem> {
        let rel = Path::new(text);
        if text.contains("://") || rel.is_absolute() || text.is_empty() {
            return Err(loc.problem(
                node,
                format!("`{text}` is not a path beside the template: download it there and name it relatively"),
            ));
        }
        let path = self.dir.join(rel);
        let file = path.display().to_string();
        let content =
            read(&path).map_err(|e| loc.problem(node, format!("cannot read {file}: {e}")))?;
        let root = template::parse(&file, &content)?;
        Ok(Included { file, root })
    }
}

pub(crate) fn read(path: &Path) -> std::io::Result<String> {
    let meta = std::fs::metadata(path)?;
    if meta.len() > MAX_FILE {
        return Err(std::io::Error::other(format!(
            "larger than {} MiB",
            MAX_FILE >> 20
        )));
    }
    std::fs::read_to_string(path)
}

/// Mutual TLS on a custom domain mapped to the API `id` (`BasePathMapping`, `ApiMapping`).
pub(crate) fn domain_mtls(src: &Source, id: &str) -> Result<Option<Place>, Problem> {
    let Some(resources) = src.root.get("Resources").and_then(Node::entries) else {
        return Ok(None);
    };
    for res in resources {
        let kind = res.value.get("Type").and_then(Node::scalar).unwrap_or("");
        let api_key = match kind {
            "AWS::ApiGateway::BasePathMapping" | "AWS::ApiGateway::BasePathMappingV2" => {
                "RestApiId"
            }
            "AWS::ApiGatewayV2::ApiMapping" => "ApiId",
            _ => continue,
        };
        let props = res.value.get("Properties");
        let target = props
            .and_then(|p| p.get(api_key))
            .and_then(Resolver::target);
        if target.is_none_or(|(t, _)| t != id) {
            continue;
        }
        let domain_key = if kind.ends_with("V2") {
            "DomainNameArn"
        } else {
            "DomainName"
        };
        let Some((domain, _)) = props
            .and_then(|p| p.get(domain_key))
            .and_then(Resolver::target)
        else {
            continue;
        };
        let dloc = Loc::new(&src.file, "Resources")
            .key(domain)
            .key("Properties");
        let mtls = src
            .root
            .get("Resources")
            .and_then(|r| r.get(domain))
            .and_then(|d| d.get("Properties"))
            .and_then(|p| p.entry("MutualTlsAuthentication"))
            .filter(|m| !m.value.is_null());
        if let Some(m) = mtls {
            return Ok(Some(dloc.key("MutualTlsAuthentication").place(m.line)));
        }
    }
    Ok(None)
}
