//! Herald for applications in any language, set up by the configuration file alone:
//! sign-in, channel rules, presence, webhooks and the backend API (spec/apps.md).
//!
//! Each part is an ordinary hook of the core ([`crate::SignIn`], a
//! [`crate::SecurityPolicy`], a [`crate::Listener`], a [`crate::Service`], a
//! [`crate::PublishFilter`]) built from its section of the file; [`App`] puts them on a
//! [`Builder`] and adds the API's routes.

pub mod admin;
pub mod api;
pub mod backend;
pub mod jwt;
pub mod presence;
pub mod rules;
pub mod sign_in;
pub mod webhook;

use std::sync::Arc;

use axum::Router;

use crate::builder::Builder;
use crate::config::file::{ConfigError, ConfigFile, Secret, Source};
use crate::protocol::ChannelPattern;
use crate::Herald;
use backend::Backend;
use presence::Presence;
use rules::{Rules, RulesPolicy};
use sign_in::ConfiguredSignIn;
use webhook::Webhook;

/// Everything the file configures beyond the core's settings.
#[derive(Debug)]
pub struct App {
    sign_in: Option<ConfiguredSignIn>,
    rules: Option<Arc<Rules>>,
    presence: Arc<Presence>,
    webhooks: Option<Webhooks>,
    api_keys: Vec<Secret>,
    admin_password: Option<Secret>,
}

#[derive(Debug)]
struct Webhooks {
    webhook: Webhook,
    services: Vec<ChannelPattern>,
    publish: Vec<ChannelPattern>,
}

/// A built server and every route it answers.
pub struct Served {
    /// The server.
    pub herald: Herald,
    /// The Bayeux endpoint, the demo page if on, and the API if keys are set.
    pub router: Router,
}

impl App {
    /// The parts the file describes; every problem found, each at its line.
    pub fn from_file(file: &ConfigFile, source: &Source) -> Result<Self, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let prefix = match &file.presence.prefix {
            Some(prefix) => match ChannelPattern::parse(prefix.get_ref()) {
                Some(pattern) if pattern.clone().into_name().is_ok() => prefix.get_ref().clone(),
                _ => {
                    errors.push(source.at(prefix, "not a channel name"));
                    String::new()
                }
            },
            None => presence::DEFAULT_PREFIX.to_owned(),
        };
        let reserved = ChannelPattern::parse(&format!("{prefix}/**"));
        let rules = match Rules::from_file(&file.channels, reserved, source) {
            Ok(rules) => Arc::new(rules),
            Err(mut found) => {
                errors.append(&mut found);
                Arc::default()
            }
        };
        let sign_in = file.sign_in.as_ref().and_then(|section| {
            ConfiguredSignIn::from_file(section, source)
                .map_err(|error| errors.push(error))
                .ok()
        });
        let webhooks = file.webhooks.as_ref().and_then(|section| {
            let mut patterns = |list: &[toml::Spanned<String>]| -> Vec<ChannelPattern> {
                list.iter()
                    .filter_map(|text| {
                        let parsed = ChannelPattern::parse(text.get_ref());
                        if parsed.is_none() {
                            errors.push(source.at(text, "not a channel pattern"));
                        }
                        parsed
                    })
                    .collect()
            };
            let services = patterns(&section.services);
            let publish = patterns(&section.publish);
            let backend = Backend::new(
                &section.url,
                section.timeout,
                section.secret.clone(),
                source,
            );
            match backend {
                Ok(backend) => Some(Webhooks {
                    webhook: Webhook::new(backend),
                    services,
                    publish,
                }),
                Err(error) => {
                    errors.push(error);
                    None
                }
            }
        });
        let api_keys = file.api.as_ref().map_or_else(Vec::new, |api| {
            api.keys.iter().map(|key| key.get_ref().clone()).collect()
        });
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            sign_in,
            presence: Arc::new(Presence::new(Arc::clone(&rules), prefix)),
            // Grants from a sign-in narrow what users may do even without rules.
            rules: (!file.channels.is_empty() || file.sign_in.is_some()).then_some(rules),
            webhooks,
            api_keys,
            admin_password: file.admin.as_ref().map(|admin| admin.password.clone()),
        })
    }

    /// Replaces the API keys (from the environment, which overrides the file).
    pub fn set_api_keys(&mut self, keys: Vec<Secret>) {
        self.api_keys = keys;
    }

    /// Puts every part on `builder`, builds the server, and adds the API's routes.
    pub fn build(self, mut builder: Builder) -> Served {
        if let Some(sign_in) = self.sign_in {
            builder = builder.sign_in(sign_in);
        }
        if let Some(rules) = self.rules {
            builder = builder.security_policy(RulesPolicy(rules));
        }
        builder = builder.listener(Arc::clone(&self.presence));
        if let Some(webhooks) = &self.webhooks {
            for pattern in &webhooks.services {
                builder = builder.service(pattern.clone(), webhooks.webhook.clone());
            }
            for pattern in &webhooks.publish {
                builder = builder.publish_filter(pattern.clone(), webhooks.webhook.clone());
            }
        }
        let herald = builder.build();
        self.presence.attach(&herald.core);
        if let Some(webhooks) = &self.webhooks {
            webhooks.webhook.attach(&herald.core);
        }
        let mut router = herald.router();
        if !self.api_keys.is_empty() {
            router = router.merge(api::routes(
                herald.clone(),
                Some(self.presence),
                self.api_keys,
            ));
        }
        if let Some(password) = self.admin_password {
            router = router.merge(admin::routes(herald.clone(), password));
        }
        Served { herald, router }
    }
}
