//! API errors in CloudStack's shape: the HTTP status equals `errorcode`, the body names the command.

use serde_json::json;

/// An error answer of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// CloudStack's `errorcode`, also the HTTP status.
    pub code: u16,
    /// CloudStack's `cserrorcode` (the exception class number).
    pub cs_code: u32,
    /// Human-readable reason.
    pub text: String,
}

/// `cserrorcode` CloudStack gives its generic server-side exceptions.
const CS_GENERIC: u32 = 9999;
/// `cserrorcode` of an invalid parameter value.
const CS_INVALID_PARAMETER: u32 = 4350;

impl ApiError {
    /// 401: the request is not signed by a known key (or is expired); the reason stays in the request log only,
    /// because CloudStack does not tell a client which part of its signature was wrong.
    pub fn bad_credentials() -> ApiError {
        ApiError {
            code: 401,
            cs_code: CS_GENERIC,
            text: "request signature or credentials could not be verified".into(),
        }
    }

    /// 431: a parameter is missing, malformed or out of range.
    pub fn bad_parameter(text: impl Into<String>) -> ApiError {
        ApiError { code: 431, cs_code: CS_INVALID_PARAMETER, text: text.into() }
    }

    /// 431 for a VM id no VM ever had. CloudStack raises it while turning the UUID into an internal id, as a
    /// `ServerApiException`, hence the generic `cserrorcode`.
    pub fn unknown_id(parameter: &str, value: &str) -> ApiError {
        ApiError {
            code: 431,
            cs_code: CS_GENERIC,
            text: format!("invalid value for parameter {parameter}: no entity has the id '{value}'"),
        }
    }

    /// 432: the command does not exist (or this caller may not run it).
    pub fn unknown_command(command: &str) -> ApiError {
        ApiError {
            code: 432,
            cs_code: CS_GENERIC,
            text: format!("command '{command}' does not exist or is not available"),
        }
    }

    /// Any status a fault asks for (530, 503, …).
    pub fn injected(code: u16) -> ApiError {
        ApiError { code, cs_code: CS_GENERIC, text: format!("injected fault: status {code}") }
    }

    /// The JSON body: `{"<command lower-cased>response": {…}}`, or `errorresponse` when no command was sent.
    pub fn body(&self, command: Option<&str>) -> String {
        let key = match command {
            Some(command) => format!("{}response", command.to_lowercase()),
            None => "errorresponse".to_string(),
        };
        json!({ key: {
            "uuidList": [],
            "errorcode": self.code,
            "cserrorcode": self.cs_code,
            "errortext": self.text,
        }})
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_keyed_by_the_lower_cased_command() {
        let body: serde_json::Value =
            serde_json::from_str(&ApiError::bad_parameter("page must be positive").body(Some("listVirtualMachines")))
                .unwrap();
        let inner = &body["listvirtualmachinesresponse"];
        assert_eq!(inner["errorcode"], 431);
        assert_eq!(inner["cserrorcode"], 4350);
        assert_eq!(inner["uuidList"], serde_json::json!([]));
        assert_eq!(inner["errortext"], "page must be positive");
        assert!(ApiError::bad_credentials().body(None).starts_with("{\"errorresponse\""));
    }
}
